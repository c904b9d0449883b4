"""Fit abstention scores on the training questions (NQ-open dev) and report them on the nq-vital validation
questions, against the shipped rule (the best passage's fused score).

    python docs/experiments/abstention-model/analyse.py build/abstention/train-reader.npz \
        build/abstention/valid-reader.npz docs/experiments/abstention/features.jsonl

A validation question is *right* when the default answer path's lead scores F1 >= 0.5 (`f1` in the
abstention study's `features.jsonl`), *unanswerable* when no gold answer is in the 10 passages read. Each score
is reported at the threshold refusing 70% of the unanswerable questions: over all 240 (the threshold is then
fitted on the questions it is reported on, the most favourable case), and chosen on one half (odd / even
question numbers) then applied to the other.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score


def question_features(d: dict) -> np.ndarray:
    fused = d["fused"]
    return np.c_[fused[:, 0], fused[:, 0] - fused[:, 1], fused.mean(1), fused[:, 0] - fused.mean(1),
                 d["dense"][:, 0], d["bm25"][:, 0], d["dense"][:, 0] - d["dense"][:, 1:].mean(1)]


def passage_features(d: dict, with_cls: bool) -> np.ndarray:
    parts = [d[k][..., None] for k in ("span", "lse", "select", "null", "fused")]
    if with_cls:
        parts.insert(0, d["cls"].astype(np.float32))
    x = np.concatenate(parts, -1)
    return x.reshape(-1, x.shape[-1])


def fit(x: np.ndarray, y: np.ndarray, c: float):
    mean, scale = x.mean(0), x.std(0) + 1e-6
    model = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
    return lambda z: model.decision_function((z - mean) / scale)


def main() -> int:
    train, valid = (dict(np.load(p)) for p in sys.argv[1:3])
    labels = {r["question"]: r for r in map(json.loads, open(sys.argv[3], encoding="utf-8"))}
    f1 = np.array([labels[q]["f1"] for q in valid["questions"]])
    answerable, n = valid["has"].any(1), len(f1)
    right = f1 >= 0.5
    reads = valid["has"].shape[1]
    scores = {"fused score of the best passage (shipped rule)": valid["fused"][:, 0],
              "reader: best span's logit, first passage": valid["span"][:, 0]}
    retrieval = fit(question_features(train), train["has"].any(1), 0.01)
    scores["retrieval features, logistic fitted on NQ-open dev"] = retrieval(question_features(valid))
    for with_cls in (False, True):
        passage = fit(passage_features(train, with_cls), train["has"].reshape(-1), 0.01)
        pv = passage(passage_features(valid, with_cls)).reshape(-1, reads)
        name = "reader logits" + (" + [CLS] vector" if with_cls else "")
        scores[f"{name}: first passage holds an answer (logistic)"] = pv[:, 0]
        pt = passage(passage_features(train, with_cls)).reshape(-1, reads)
        both = fit(np.c_[question_features(train), pt[:, 0], pt.max(1)], train["has"].any(1), 0.1)
        scores[f"retrieval features + {name} (logistic)"] = both(np.c_[question_features(valid), pv[:, 0], pv.max(1)])
    print(f"{n} questions, {(~answerable).sum()} unanswerable, {answerable.sum()} answerable, {right.sum()} right")
    print("| score | AUC right vs unanswerable | F1 lost at 70% refused (all 240) | right kept | odd -> even | even -> odd |")
    print("|---|---|---|---|---|---|")
    for name, s in scores.items():
        mask = right | ~answerable
        threshold = np.quantile(s[~answerable], 0.70)
        lost = (f1[answerable] * (s[answerable] < threshold)).sum() / answerable.sum() * 100
        halves = []
        for half in (1, 0):
            chosen = np.arange(n) % 2 == half
            other = ~chosen
            t = np.quantile(s[chosen & ~answerable], 0.70)
            refused = (s[other & ~answerable] < t).mean() * 100
            a = other & answerable
            halves.append(f"{refused:.0f}% refused, F1 -{(f1[a] * (s[a] < t)).mean() * 100:.1f}")
        print(f"| {name} | {roc_auc_score(right[mask], s[mask]):.3f} | {lost:.1f} | "
              f"{(right & (s >= threshold)).sum()} / {right.sum()} | {halves[0]} | {halves[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
