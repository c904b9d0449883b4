"""A title signal on top of the default hybrid: BM25 over the titles alone, or the share of a passage's title
words in the question, added to the fused score (z-scores over both top-100 runs, lambda 4) with weight w.

NQ questions often name the article that answers them; the dense encoder may already use that. Odd and even
questions are shown apart, so a weight that helps only one half is visible.

    python docs/experiments/bm25-params/title.py -c wiki-vital     # 1 min; title.log
"""

from __future__ import annotations

import argparse
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


def zscore(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def bm25_model(texts: list[str]) -> bm25s.BM25:
    token_ids, vocab = corpus_token_ids(texts)
    model = bm25s.BM25()
    model.index((token_ids, vocab), show_progress=False)
    return model


def scores(model: bm25s.BM25, tokens: list[str], n: int) -> np.ndarray:
    ids = model.get_tokens_ids(tokens) if tokens else []
    return np.asarray(model.get_scores_from_ids(ids), dtype=np.float64) if ids else np.zeros(n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--valid", default="../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl")
    parser.add_argument("-c", "--collection", default="wiki-vital")
    args = parser.parse_args()
    settings = Settings(collection=args.collection)
    coll = open_collection(settings)
    hybrid = open_retriever(settings, coll, "hybrid")
    passages = list(coll.passages())
    ids = [p.id for p in passages]
    texts = [normalize(p.indexed_text) for p in passages]
    titles = [p.indexed_text.split(". ", 1)[0] for p in passages]  # nq-vital's text is title + ". " + extract
    body, title_bm25 = bm25_model([p.indexed_text for p in passages]), bm25_model(titles)
    title_words = [set(t) for t in tokenize(titles)]
    stored = hybrid.dense.store.embeddings(ids)
    matrix = np.stack([np.asarray(stored[pid], dtype=np.float64) for pid in ids])
    questions = select(read_nq_open(args.valid), texts, 5)
    relevant = [np.array([has_answer(q.answers, t) for t in texts]) for q in questions]
    hybrid.prime([q.question for q in questions])
    rows = []
    for q, tokens in zip(questions, tokenize([q.question for q in questions])):
        dense, sparse = matrix @ hybrid.dense.encode_query(q.question), scores(body, tokens, len(ids))
        union = np.union1d(np.argsort(-sparse, kind="stable")[:100], np.argsort(-dense, kind="stable")[:100])
        fused = zscore(sparse[union]) + DEFAULT_LINEAR_WEIGHT * zscore(dense[union])
        title = zscore(scores(title_bm25, tokens, len(ids))[union])
        overlap = np.array([len(title_words[i] & set(tokens)) / max(1, len(title_words[i])) for i in union])
        rows.append((union, fused, title, overlap))

    def accuracy(feature: int, weight: float, subset: list[int]) -> list[float]:
        out = []
        for k in KS:
            hits = 0
            for i in subset:
                union, fused, *extra = rows[i]
                order = union[np.argsort(-(fused + weight * extra[feature]), kind="stable")]
                hits += bool(relevant[i][order[:k]].any())
            out.append(round(100 * hits / len(subset), 1))
        return out

    every = list(range(len(questions)))
    odd, even = every[1::2], every[0::2]
    print(f"{len(questions)} questions; top-1 / 5 / 20 / 100")
    print("default hybrid", accuracy(0, 0.0, every))
    for feature, name, weights in ((0, "title BM25", (0.25, 0.5, 1, 2, 4)), (1, "title overlap", (0.5, 1, 2, 5))):
        for w in weights:
            print(
                f"+ {name} w={w}: all {accuracy(feature, w, every)} odd {accuracy(feature, w, odd)}",
                f"even {accuracy(feature, w, even)}",
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
