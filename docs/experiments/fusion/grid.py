"""Choose the default fusion on validation questions: top-k of every fusion setting from one pair of runs.

Each nq-vital question (answer in 1-5 passages) is searched once by the dense retriever and once by BM25
(100 candidates each); RRF at several dense weights and candidate depths, and linear fusion with z-score and
min-max normalisation at several lambdas, are then computed from those runs with the project's fusion
functions. The chosen setting is confirmed with `rag eval retrieval`, which scores linear fusion exactly.

    python docs/experiments/fusion/grid.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl \
        -c wiki-vital.dpr-nq
"""

from __future__ import annotations

import argparse
import json
import sys

from eval.nq_vital import read_nq_open, select
from rag.config import Settings
from rag.retrieval import open_collection, open_retriever
from retrievers.answer_text import has_answer, normalize
from retrievers.fusion import linear_fusion, reciprocal_rank_fusion

KS = (1, 5, 20, 100)


def accuracy(ranked: list[list[str]], relevant: list[set[str]]) -> dict[str, float]:
    out = {}
    for k in KS:
        hits = sum(bool(set(r[:k]) & rel) for r, rel in zip(ranked, relevant))
        out[f"top{k}"] = round(100 * hits / len(ranked), 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("-c", "--collection", required=True)
    args = parser.parse_args()
    settings = Settings(collection=args.collection)
    coll = open_collection(settings)
    hybrid = open_retriever(settings, coll, "hybrid")
    texts = {p.id: normalize(p.indexed_text) for p in coll.passages()}
    questions = select(read_nq_open(args.qa), [t for t in texts.values()], 5)
    relevant = [{pid for pid, t in texts.items() if has_answer(q.answers, t)} for q in questions]
    hybrid.prime([q.question for q in questions])
    dense_runs, sparse_runs = [], []
    for q in questions:
        dense_runs.append(hybrid.dense.search_ids(hybrid.dense.encode_query(q.question), 100))
        sparse_runs.append(hybrid.sparse.search_ids(q.question, 100))
    rows = {"dense": accuracy([[p for p, _ in r] for r in dense_runs], relevant),
            "bm25": accuracy([[p for p, _ in r] for r in sparse_runs], relevant)}
    for weight in (1, 2, 3, 5, 8, 12):
        for depth in (20, 100):
            fused = [[p for p, _ in reciprocal_rank_fusion([s[:depth], d], weights=[1.0, weight])]
                     for s, d in zip(sparse_runs, dense_runs)]
            rows[f"rrf w={weight} bm25-depth={depth}"] = accuracy(fused, relevant)
    for norm in ("zscore", "minmax"):
        for weight in (2, 4, 6, 8, 12):
            fused = [[p for p, _ in linear_fusion(dict(s), dict(d), weight=weight, normalization=norm)]
                     for s, d in zip(sparse_runs, dense_runs)]
            rows[f"linear {norm} lambda={weight}"] = accuracy(fused, relevant)
    dense = rows["dense"]
    print(f"{len(questions)} questions")
    for name, row in rows.items():
        never_below = all(row[f"top{k}"] >= dense[f"top{k}"] for k in KS)
        print(f"{name:34s} " + " ".join(f"{row[f'top{k}']:5.1f}" for k in KS) + ("  >= dense at every k" if never_below else ""))
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
