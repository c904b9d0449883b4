"""Linear fusion with a passage missing from one run scored exactly (DPR, the project's hybrid) or given that run's
lowest score (Pyserini's hybrid), at several lambdas, from one retrieval per question.

Both runs are 100 deep; the exact scores are those `rag tune` reads (`HybridRetriever.exact_scores`); z-scores
over the union of the two runs, as the default fusion.

    python docs/experiments/fusion/fill.py -c wiki-vital --dataset nq-open:$NQ/NQ-open.efficientqa.dev.1.1.jsonl
    python docs/experiments/fusion/fill.py -c wiki-vital --dataset squad:/tmp/vital-squad-dev.json --all-answers
"""

from __future__ import annotations

import argparse
import sys

from eval import tuning
from eval.retrieval import filter_questions
from rag.config import Settings
from rag.retrieval import open_collection, open_retriever
from retrievers.datasets import load_dataset
from retrievers.fusion import linear_fusion

KS = (1, 5, 20, 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--collection", required=True)
    parser.add_argument("--dataset", required=True, help="FORMAT:PATH, as rag tune takes it")
    parser.add_argument("--all-answers", action="store_true", help="keep questions whose answer is in >5 passages")
    args = parser.parse_args()
    settings = Settings(collection=args.collection)
    data = load_dataset(args.dataset)
    coll = open_collection(settings, args.collection)
    passages = (p.indexed_text for p in coll.passages())
    questions = [
        q for q in filter_questions(data.questions, passages, None if args.all_answers else 5) if q.answers or q.gold
    ]
    hybrid = open_retriever(settings.model_copy(update={"mode": "hybrid", "fusion": "linear"}), coll, "hybrid")
    hybrid.prime([q.question for q in questions])
    runs = [tuning._runs(hybrid, coll, q, 100) for q in questions]

    def accuracy(rankings: list[list[str]]) -> list[float]:
        return [
            round(100 * sum(1 for ids, r in zip(rankings, runs) if r.relevant.intersection(ids[:k])) / len(runs), 1)
            for k in KS
        ]

    print(f"{len(questions)} questions ({args.dataset}) over {args.collection}; top-1 / 5 / 20 / 100")
    print("bm25 ", accuracy([[pid for pid, _ in r.sparse] for r in runs]))
    print("dense", accuracy([[pid for pid, _ in r.dense] for r in runs]))
    for weight in (0.5, 1, 2, 3, 4, 6, 8):
        exact = accuracy([[p for p, _ in linear_fusion(r.sparse_scores, r.dense_scores, weight=weight)] for r in runs])
        lowest = accuracy([[p for p, _ in linear_fusion(dict(r.sparse), dict(r.dense), weight=weight)] for r in runs])
        print(f"lambda {weight}: exact {exact}  run's lowest {lowest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
