"""Dense pseudo-relevance feedback (Rocchio on embeddings, no training): the question vector moved toward the
mean of its top `m` passages' vectors, `q' = normalise(q + beta * mean)`, then dense and hybrid search again.
Also the hybrid's own top `m` (fused) as the feedback set. Scored as nq-vital top-k accuracy.

    python docs/experiments/dense-prf/run.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl -c wiki-vital
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.nq_vital import read_nq_open, select  # noqa: E402
from rag.assembly import open_collection, open_retriever  # noqa: E402
from rag.config import Settings  # noqa: E402
from retrievers.answer_text import has_answer, normalize  # noqa: E402
from retrievers.fusion import fusion_normalization, linear_fusion  # noqa: E402

KS = (1, 5, 20, 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    settings = Settings(collection=args.collection)
    r = open_retriever(settings, open_collection(settings, args.collection))
    texts = {p.id: p.indexed_text for p in r.collection.passages()}
    questions = select(read_nq_open(args.qa), texts.values(), 5)[: args.limit or None]
    r.prime([q.question for q in questions])
    depth, norm = r.candidates, fusion_normalization(r.fusion, r.normalization)
    configs = [("none", 0, 0.0)] + [(src, m, b) for src in ("dense", "hybrid") for m in (3, 5, 10) for b in (0.5, 1.0, 2.0)]
    hits = {c: {"dense": np.zeros(len(KS)), "hybrid": np.zeros(len(KS))} for c in configs}
    for q in questions:
        gold = lambda pid: has_answer(q.answers, normalize(texts[pid]))  # noqa: E731
        q0 = r.dense.encode_query(q.question)
        sparse = r.sparse.search_ids(q.question, depth)
        dense0 = r.dense.search_ids(q0, depth)
        s0, d0 = r.exact_scores(q.question, q0, sparse, dense0)
        fused0 = linear_fusion(s0, d0, weight=r.dense_weight, normalization=norm)
        for config in configs:
            src, m, beta = config
            if src == "none":
                v = q0
            else:
                top = [pid for pid, _ in (dense0 if src == "dense" else fused0)[:m]]
                vecs = r.dense.store.embeddings(top)
                v = q0 + beta * np.mean([vecs[pid] for pid in top], 0)
                v = v / np.linalg.norm(v)
            dense = r.dense.search_ids(v, depth)
            s, d = r.exact_scores(q.question, v, sparse, dense)
            fused = linear_fusion(s, d, weight=r.dense_weight, normalization=norm)
            for name, run in (("dense", dense), ("hybrid", fused)):
                first = next((i for i, (pid, _) in enumerate(run[:100]) if gold(pid)), None)
                if first is not None:
                    hits[config][name] += np.array([first < k for k in KS])
    n = len(questions)
    print(f"{n} questions; top-{'/'.join(map(str, KS))}")
    for config, h in hits.items():
        print(f"{config[0]:6s} m={config[1]:2d} beta={config[2]:.1f}  dense " + " / ".join(f"{x / n * 100:.1f}" for x in h["dense"])
              + "   hybrid " + " / ".join(f"{x / n * 100:.1f}" for x in h["hybrid"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
