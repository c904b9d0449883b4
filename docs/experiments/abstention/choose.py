"""Which signal tells a question the read passages do not answer? Each candidate rule is fitted on the
odd-numbered questions of `features.jsonl` (features.py) and reported on the even-numbered ones: the refusal
rate on unanswerable questions (no gold answer in a passage read) and the answer F1 kept on answerable ones.

A rule refuses when its signal is below a threshold; the threshold is the lowest that refuses >= --target %
of the fitting half's unanswerable questions. Logistic rules first learn weights for several signals on the
fitting half (predicting "the span is right", F1 >= 0.5), then threshold their probability the same way.

    python docs/experiments/abstention/choose.py docs/experiments/abstention/features.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np


def signals(row: dict) -> dict[str, float]:
    spans = [s if s is not None else -1e4 for s in row["span_scores"]]
    score = row["score"] if row["score"] is not None else -1e4
    exp = np.exp(np.array(spans) - max(spans))
    fused = row["fused"] + [row["fused"][-1]] * (2 - len(row["fused"])) if row["fused"] else [0.0, 0.0]
    return {
        "span": score,
        "check": row["check"] if row["check"] is not None else -20.0,
        "select_max": max(row["select"]) if row["select"] else -1e4,
        "span_share": float(np.exp(score - max(spans)) / exp.sum()),
        "holding": float(row["holding"]),
        "fused_top": fused[0],
        "fused_gap": fused[0] - fused[1],
        "span+2check": score + 2 * (row["check"] if row["check"] is not None else -20.0),
    }


def side(rows: list[dict], refuse: list[bool]) -> dict:
    un = [x for r, x in zip(rows, refuse) if not r["answerable"]]
    an = [(r, x) for r, x in zip(rows, refuse) if r["answerable"]]
    f1_all = 100 * sum(r["f1"] for r, _ in an) / max(1, len(an))
    f1_kept = 100 * sum(0.0 if x else r["f1"] for r, x in an) / max(1, len(an))
    return {"unanswerable": len(un), "answerable": len(an),
            "refused_unanswerable": round(100 * sum(un) / max(1, len(un)), 1),
            "refused_answerable": round(100 * sum(x for _, x in an) / max(1, len(an)), 1),
            "f1_without": round(f1_all, 1), "f1_with": round(f1_kept, 1), "f1_drop": round(f1_all - f1_kept, 1)}


def threshold(values: list[float], rows: list[dict], target: float) -> float:
    """The lowest threshold (refuse below it) that refuses >= target % of the unanswerable rows."""
    un = sorted(v for v, r in zip(values, rows) if not r["answerable"])
    if not un:
        return -math.inf
    need = math.ceil(target / 100 * len(un))
    return un[need - 1] + 1e-9 if need else -math.inf


def logistic(fit: list[dict], names: list[str]):
    from sklearn.linear_model import LogisticRegression

    x = np.array([[signals(r)[n] for n in names] for r in fit])
    mean, std = x.mean(0), x.std(0) + 1e-9
    y = np.array([r["f1"] >= 0.5 for r in fit])
    model = LogisticRegression(C=1.0).fit((x - mean) / std, y)
    return lambda r: float(model.decision_function(((np.array([signals(r)[n] for n in names]) - mean) / std)[None])[0])


def auc(pos: list[float], neg: list[float]) -> float:
    """How often a right answer's signal is above an unanswerable question's (ties count half)."""
    pairs = [(p > n) + 0.5 * (p == n) for p in pos for n in neg]
    return sum(pairs) / max(1, len(pairs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features", type=Path)
    parser.add_argument("--target", type=float, default=70.0)
    parser.add_argument("--threshold", type=float, default=8.3, help="the shipped rule: fused_top below this")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.features.read_text().splitlines() if line.strip()]
    right = [r for r in rows if r["answerable"] and r["f1"] >= 0.5]
    unanswerable = [r for r in rows if not r["answerable"]]
    print(f"{len(rows)} questions: {len(unanswerable)} unanswerable, {len(rows) - len(unanswerable)} answerable "
          f"({len(right)} answered right, F1 >= 0.5)\n")
    print("AUC, right answers against unanswerable questions:")
    for name in signals(rows[0]):
        print(f"  {name:<12} {auc([signals(r)[name] for r in right], [signals(r)[name] for r in unanswerable]):.3f}")
    fit, test = rows[1::2], rows[0::2]
    rules = {name: (lambda r, n=name: signals(r)[n]) for name in signals(rows[0])}
    for names in (["span", "check"], ["span", "check", "holding"], ["span", "check", "holding", "fused_top"],
                  ["span", "check", "holding", "fused_top", "select_max", "span_share"]):
        rules["logistic:" + "+".join(names)] = logistic(fit, names)
    print(f"\nEach rule's threshold refuses {args.target:g}% of the odd half's unanswerable questions; the even half:")
    for name, rule in rules.items():
        t = threshold([rule(r) for r in fit], fit, args.target)
        got = side(test, [rule(r) < t for r in test])
        print(f"  {name:<58} refuses {got['refused_unanswerable']:5.1f}% of unanswerable, "
              f"F1 {got['f1_without']:.1f} -> {got['f1_with']:.1f}")
    print(f"\nThe shipped rule, fused_top < {args.threshold:g}:")
    for name, part in (("odd half", rows[1::2]), ("even half", rows[0::2]), ("all", rows)):
        print(f"  {name:<9} {json.dumps(side(part, [signals(r)['fused_top'] < args.threshold for r in part]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
