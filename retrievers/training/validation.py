"""Held-out questions for training: a seeded split of the training examples, and a passage pool to rank
them against during training (BM25's candidates plus random fill), a cheap stand-in for the collection."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..stores import Collection
from .data import TrainingExample


@dataclass
class ValidationSet:
    """Held-out questions and a passage pool to rank them against (a cheap stand-in for the collection)."""

    questions: list[str]
    answers: list[list[str]]  # normalised
    positives: list[str]  # for explicit pairs, which have no answer strings
    corpus: list[str]


def split_validation(
    examples: list[TrainingExample], fraction: float, limit: int, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """Shuffle with `seed` and hold out `fraction` of the examples (at most `limit`)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n = min(limit, int(round(len(examples) * fraction))) if len(examples) >= 10 else 0
    held = {order[i] for i in range(n)}
    return ([e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held])


def validation_set(
    held_out: Sequence[TrainingExample],
    collection: Collection | None,
    *,
    depth: int = 20,
    pool_size: int = 2000,
    seed: int = 0,
) -> ValidationSet:
    """Rank held-out questions against their BM25 top-`depth` passages plus random fill.

    Re-encoding a whole collection at every evaluation would dominate CPU training time; this pool
    keeps the hard candidates, so its accuracy moves with the real one.
    """
    pool: dict[str, None] = {}
    for e in held_out:
        pool[e.positive] = None
        for n in e.negatives:
            pool[n] = None
    if collection is not None:
        bm25 = collection.bm25()
        ids: list[str] = []
        for e in held_out:
            ids += [pid for pid, _ in bm25.search(e.question, depth)]
        for passage in collection.get(list(dict.fromkeys(ids))).values():
            pool[passage.indexed_text] = None
        if len(pool) < pool_size:
            everything = [p.indexed_text for p in collection.passages()]
            rng = np.random.default_rng(seed)
            for index in rng.permutation(len(everything)):
                if len(pool) >= pool_size:
                    break
                pool[everything[index]] = None
    return ValidationSet(
        [e.question for e in held_out], [e.answers for e in held_out], [e.positive for e in held_out], list(pool)
    )
