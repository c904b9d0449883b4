"""The metrics the field reports, each for one question; the caller averages them.

Retrieval: DPR's top-k accuracy by answer-string match, and recall@k, MRR@k and nDCG@k against
gold document ids (BEIR's definitions: graded gains, log2 discount). Answers: SQuAD's exact match
and token F1, answer containment, citation accuracy and a lexical support score.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from retrievers.answer_text import exact_match, has_answer, normalize, normalize_answer, token_f1

__all__ = [
    "answer_contained",
    "citation_accuracy",
    "exact_match",
    "first_answer_rank",
    "lexical_support",
    "mrr_at_k",
    "ndcg_at_k",
    "normalize_answer",
    "recall_at_k",
    "token_f1",
    "unique_ids",
]


def first_answer_rank(texts: Sequence[str], answers: Sequence[str]) -> int | None:
    """1-based rank of the first passage containing a gold answer (DPR's match), or None."""
    golds = [normalize(a) for a in answers if normalize(a).strip()]
    for rank, text in enumerate(texts, start=1):
        if golds and has_answer(golds, normalize(text)):
            return rank
    return None


def unique_ids(ids: Sequence[str]) -> list[str]:
    """Document ids in rank order with repeats removed: several passages of one document count once."""
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]


def recall_at_k(retrieved: Sequence[str], gold: Mapping[str, int], k: int) -> float:
    """Fraction of the relevant documents (grade > 0) among the first k distinct retrieved ones."""
    relevant = {d for d, grade in gold.items() if grade > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(unique_ids(retrieved)[:k])) / len(relevant)


def mrr_at_k(retrieved: Sequence[str], gold: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document within the first k, else 0."""
    for rank, doc in enumerate(unique_ids(retrieved)[:k], start=1):
        if gold.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], gold: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain: gain = grade, discount = log2(rank + 1)."""
    dcg = sum(
        gold.get(doc, 0) / math.log2(rank + 1)
        for rank, doc in enumerate(unique_ids(retrieved)[:k], start=1)
        if gold.get(doc, 0) > 0
    )
    ideal = sorted((g for g in gold.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg if idcg else 0.0


def answer_contained(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when a gold answer appears in the prediction (DPR's token-boundary match), as long answers do."""
    text = normalize(prediction)
    return float(any(normalize(g).strip() and normalize(g) in text for g in golds))


def citation_accuracy(cited_texts: Sequence[str], golds: Sequence[str]) -> float | None:
    """1.0 when a cited passage contains a gold answer, 0.0 when none does, None when nothing is cited."""
    if not cited_texts:
        return None
    return float(first_answer_rank(cited_texts, golds) is not None)


# Words too common to show that a sentence came from a passage.
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from as is are was were be been being it its
this that these those he she they them his her their we you i not no do does did has have had which who whom what when
where why how than then there so such into over about also can could would should will may might""".split()
)


def lexical_support(answer: str, passages: Sequence[str]) -> float | None:
    """Fraction of the answer's content words found in the passages: a cheap groundedness score.

    1.0 means every content word of the answer occurs in what the model read; an answer made of
    words the passages never use is likely not grounded in them. None for an answer with no
    content words (an empty answer or a refusal made only of stopwords).
    """
    words = [w for w in normalize(answer).split() if w not in _STOPWORDS]
    if not words:
        return None
    vocabulary = set(normalize(" ".join(passages)).split())
    return sum(1 for w in words if w in vocabulary) / len(words)
