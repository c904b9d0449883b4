"""Exact inner-product search over a collection's vectors held in memory, as DPR's flat FAISS index.

Chroma's HNSW graph is approximate and, through its client, slow on small collections: on the 10,033 built-in
passages a top-100 query takes about 1.9 ms and misses 6.5 of the exact top 100 on average, where one matrix
product over all vectors takes 0.17 ms and misses none. So an embedded store whose vectors fit `max_bytes`
reads them all once into one matrix and searches that; a larger collection, or one behind a Chroma server
(whose other writers cannot be seen), keeps HNSW. The matrix is read again after any write, by any process
(the collection's version changes), and holds the vectors exact fusion asks for too.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

EXACT_INDEX_BYTES = 64 * 2**20  # about 43,000 MiniLM vectors; past some 50,000 HNSW is the faster one here


@dataclass(frozen=True)
class _Matrix:
    version: int
    ids: list[str]
    vectors: np.ndarray  # (n, dim) float32
    rows: dict[str, int] = field(repr=False)


class ExactIndex:
    """One collection's vectors in a matrix, loaded on first use when they fit; safe to share between threads.

    Args:
        version: the collection's version now (it changes on every write).
        max_bytes: the most memory the matrix may take; a larger collection is not loaded (searches return None).
    """

    def __init__(self, version: Callable[[], int], max_bytes: int = EXACT_INDEX_BYTES) -> None:
        self._version = version
        self.max_bytes = max_bytes
        self._matrix: _Matrix | None = None
        self._too_big: int | None = None  # the version found too large to load
        self._lock = threading.Lock()

    def search(
        self,
        vector: np.ndarray,
        k: int,
        ids: Sequence[str] | None,
        count: Callable[[], int],
        read: Callable[[int], tuple[list[str], np.ndarray]],
    ) -> list[tuple[str, float]] | None:
        """The `k` ids (among `ids`, when given) with the highest inner product with `vector`, best first, or
        None when the collection is not held (too large, or written while it was being read). When the matrix is
        not held at the current version, `count()` says how many vectors there are and `read(count)` reads them
        all (ids and vectors)."""
        matrix = self._current(len(vector), count, read)
        if matrix is None:
            return None
        if not matrix.ids:
            return []
        if ids is None:
            scores = matrix.vectors @ np.asarray(vector, dtype=np.float32)
            rows = None
        else:
            rows = np.fromiter((matrix.rows[pid] for pid in dict.fromkeys(ids) if pid in matrix.rows), dtype=np.int64)
            scores = matrix.vectors[rows] @ np.asarray(vector, dtype=np.float32)
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        picked = top if rows is None else rows[top]
        return [(matrix.ids[row], float(score)) for row, score in zip(picked, scores[top])]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray] | None:
        """The held vectors of `ids` that exist, or None when the collection is not held at its current version
        (this never loads it: the next search does)."""
        matrix = self._matrix
        if matrix is None or matrix.version != self._version():
            return None
        return {pid: matrix.vectors[matrix.rows[pid]] for pid in ids if pid in matrix.rows}

    def clear(self) -> None:
        with self._lock:
            self._matrix = None
            self._too_big = None

    def _current(
        self, dim: int, count: Callable[[], int], read: Callable[[int], tuple[list[str], np.ndarray]]
    ) -> _Matrix | None:
        version = self._version()
        matrix = self._matrix
        if matrix is not None and matrix.version == version:
            return matrix
        if self._too_big == version:
            return None
        with self._lock:
            matrix = self._matrix
            if matrix is not None and matrix.version == version:
                return matrix
            self._matrix = None
            n = count()
            if n * dim * 4 > self.max_bytes:
                self._too_big = version
                logger.info("%d vectors exceed the exact index's %d bytes: HNSW searches", n, self.max_bytes)
                return None
            ids, vectors = read(n)
            if self._version() != version:  # written while being read: the next search reads it again
                return None
            self._matrix = _Matrix(version, ids, vectors, {pid: row for row, pid in enumerate(ids)})
            return self._matrix
