"""Rerank each question's first-stage candidates (from candidates.py) with a cross-encoder and report top-k
accuracy before and after, the same with the cross-encoder's logit added to the first stage's fused score
(weight chosen on the odd-numbered questions, reported on the even ones too), and how well the best
logit among the passages the reader reads separates answerable questions from the rest (AUC).

    python docs/experiments/reranker-lce/evaluate.py --candidates build/ce/nq-vital.jsonl \
        --model build/ce/lce-nq --depth 20 --out build/ce/lce-nq-scores.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def topk(rows, order_key, ks):
    out = {}
    for k in ks:
        hit = 0
        for r in rows:
            order = order_key(r)
            hit += any(r["candidates"][j]["label"] for j in order[:k])
        out[f"top{k}"] = round(100 * hit / len(rows), 1)
    return out


def auc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    if not len(pos) or not len(neg):
        return None
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return round(float(wins / (len(pos) * len(neg))), 3)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--read", type=int, default=10, help="passages the reader reads (for the abstention AUC)")
    p.add_argument("--out", type=Path)
    p.add_argument("--scores", type=Path, help="reuse scores written by an earlier --out")
    args = p.parse_args()
    rows = [json.loads(line) for line in open(args.candidates, encoding="utf-8")]
    if args.scores:
        scored = {r["i"]: r["ce"] for r in map(json.loads, open(args.scores, encoding="utf-8"))}
        for r in rows:
            r["ce"] = scored[r["i"]]
    else:
        from sentence_transformers import CrossEncoder

        model = CrossEncoder(args.model, local_files_only=True, device="cpu")
        started = time.perf_counter()
        for r in rows:
            pairs = [(r["question"], c["text"]) for c in r["candidates"][: args.depth]]
            r["ce"] = [round(float(x), 4) for x in model.predict(pairs, activation_fn=None, batch_size=32)]
        ms = 1000 * (time.perf_counter() - started) / len(rows)
        print(f"{ms:.0f} ms a question for {args.depth} candidates", file=sys.stderr)
        if args.out:
            with args.out.open("w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({"i": r["i"], "ce": r["ce"]}) + "\n")
    ks = [k for k in (1, 5, 10, 20, 50) if k <= len(rows[0]["candidates"])]
    d = args.depth

    def mixed(w):
        def order(r):
            n = len(r["ce"])
            s = np.asarray(r["ce"]) + w * np.asarray([c["fused"] for c in r["candidates"][:n]])
            return list(np.argsort(-s, kind="stable")) + list(range(n, len(r["candidates"])))
        return order

    first = topk(rows, lambda r: list(range(len(r["candidates"]))), ks)
    ce = topk(rows, mixed(0.0), ks)
    print("first stage", first)
    print(f"cross-encoder over top {d}", ce)
    odd, even = rows[1::2], rows[0::2]
    grid = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]
    best = max(grid, key=lambda w: (topk(odd, mixed(w), [5])["top5"] + topk(odd, mixed(w), [1])["top1"]))
    for w in grid:
        print(f"ce + {w} * fused: odd {topk(odd, mixed(w), ks)} even {topk(even, mixed(w), ks)}")
    print("chosen on odd:", best, "all:", topk(rows, mixed(best), ks))
    answerable = [any(c["label"] for c in r["candidates"][: args.read]) for r in rows]
    top_ce = [max(r["ce"][: args.read]) for r in rows]
    top_fused = [r["candidates"][0]["fused"] for r in rows]
    print("AUC answerable vs not, best CE logit in the read passages:",
          auc([s for s, a in zip(top_ce, answerable) if a], [s for s, a in zip(top_ce, answerable) if not a]),
          " top fused score:",
          auc([s for s, a in zip(top_fused, answerable) if a], [s for s, a in zip(top_fused, answerable) if not a]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
