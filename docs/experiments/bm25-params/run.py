"""Does a better-tuned BM25 lift the default hybrid? bm25s's scoring variants and (k1, b), chosen on training questions.

BM25 is scored over every passage of the collection for each variant; the dense run is the collection's own
(top 100, exact). The hybrid is the default linear fusion (z-scores over the union of both top-100 runs, each
passage scored exactly by both, lambda 4), as `HybridRetriever.search` computes it. BM25 variants are ranked on
the NQ-open dev questions (training data: the encoder was trained on them, so only BM25 alone is read there),
then the best few are reported on the nq-vital validation questions.

    python docs/experiments/bm25-params/run.py --train ../shared/data/nq-open/NQ-open.dev.jsonl \
        --valid ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl -c wiki-vital
"""

from __future__ import annotations

import argparse
import itertools
import sys

import bm25s
import numpy as np

from eval.nq_vital import read_nq_open, select
from rag.config import Settings
from rag.retrieval import open_collection, open_retriever
from retrievers.answer_text import has_answer, normalize
from retrievers.fusion import DEFAULT_LINEAR_WEIGHT
from retrievers.stores.bm25_index import corpus_token_ids, tokenize

KS = (1, 5, 20, 100)
METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")
K1S = (0.6, 0.9, 1.2, 1.5, 2.0)
BS = (0.3, 0.5, 0.75, 0.9)


def accuracy(ranked: list[np.ndarray], relevant: list[np.ndarray]) -> list[float]:
    return [round(100 * sum(bool(rel[r[:k]].any()) for r, rel in zip(ranked, relevant)) / len(ranked), 1) for k in KS]


def zscore(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def fuse(sparse: np.ndarray, dense: np.ndarray, dense_top: np.ndarray, weight: float) -> np.ndarray:
    """Passage indices in the order of the default linear fusion over the two top-100 runs."""
    union = np.union1d(np.argsort(-sparse, kind="stable")[:100], dense_top)
    fused = zscore(sparse[union]) + weight * zscore(dense[union])
    return union[np.argsort(-fused, kind="stable")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True)
    parser.add_argument("--valid", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--report", type=int, default=6, help="variants reported on validation")
    args = parser.parse_args()
    settings = Settings(collection=args.collection)
    coll = open_collection(settings)
    hybrid = open_retriever(settings, coll, "hybrid")
    passages = list(coll.passages())
    ids = [p.id for p in passages]
    position = {pid: i for i, pid in enumerate(ids)}
    texts = [normalize(p.indexed_text) for p in passages]
    token_ids, vocab = corpus_token_ids([p.indexed_text for p in passages])

    sets = {}
    for name, path in (("train", args.train), ("valid", args.valid)):
        questions = select(read_nq_open(path), texts, 5)
        relevant = [np.array([has_answer(q.answers, t) for t in texts]) for q in questions]
        sets[name] = (questions, relevant)
    valid_q, valid_rel = sets["valid"]
    hybrid.prime([q.question for q in valid_q])
    stored = hybrid.dense.store.embeddings(ids)
    matrix = np.stack([np.asarray(stored[pid], dtype=np.float64) for pid in ids])
    dense_full, dense_top = [], []
    for q in valid_q:
        vector = hybrid.dense.encode_query(q.question)
        dense_full.append(matrix @ vector)
        dense_top.append(np.array([position[pid] for pid, _ in hybrid.dense.search_ids(vector, 100)]))
    print(f"{len(sets['train'][0])} training questions, {len(valid_q)} validation questions")
    print("dense (valid):", accuracy(dense_top, valid_rel))

    results = []
    for method, k1, b in itertools.product(METHODS, K1S, BS):
        model = bm25s.BM25(method=method, k1=k1, b=b)
        model.index((token_ids, vocab), show_progress=False)
        row = {}
        for name, (questions, relevant) in sets.items():
            scores = [
                model.get_scores_from_ids(model.get_tokens_ids(t)) if t else np.zeros(len(ids))
                for t in tokenize([q.question for q in questions])
            ]
            ranked = [np.argsort(-s, kind="stable")[:100] for s in scores]
            row[name] = accuracy(ranked, relevant)
            if name == "valid":
                row["hybrid"] = accuracy(
                    [
                        fuse(np.asarray(s, dtype=np.float64), d, t, DEFAULT_LINEAR_WEIGHT)
                        for s, d, t in zip(scores, dense_full, dense_top)
                    ],
                    relevant,
                )
        results.append(((method, k1, b), row))
        print(
            f"{method:9s} k1={k1:<4} b={b:<5} train {row['train']} valid {row['valid']} hybrid {row['hybrid']}",
            flush=True,
        )
    results.sort(key=lambda r: (-sum(r[1]["train"][1:3]), r[0]))
    print(f"\nbest {args.report} on training questions (top-5 + top-20), then validation:")
    for (method, k1, b), row in results[: args.report]:
        print(f"{method:9s} k1={k1:<4} b={b:<5} train {row['train']} valid bm25 {row['valid']} hybrid {row['hybrid']}")
    default = next(row for key, row in results if key == ("lucene", 1.5, 0.75))
    print(
        f"default   lucene k1=1.5 b=0.75 train {default['train']} valid bm25 {default['valid']}",
        f"hybrid {default['hybrid']}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
