"""Stored vectors kept in memory after they are read, for exact fusion scores.

Linear fusion scores every passage BM25 found by its stored vector; reading 100 of them from Chroma costs about
5 ms a question, more than the dense search. An embedded store keeps what it read here: bounded in bytes (least
recently used dropped), emptied whenever the collection's version changes (any write, by any process) or this
process writes it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Mapping, Sequence

import numpy as np

VECTOR_CACHE_BYTES = 64 * 2**20  # about 43,000 MiniLM vectors: the whole built-in corpus four times over


class VectorCache:
    """Vectors by passage id for one collection; safe to share between threads."""

    def __init__(self, version: Callable[[], int], max_bytes: int = VECTOR_CACHE_BYTES) -> None:
        self._version = version
        self.max_bytes = max_bytes
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._seen: int | None = None
        self._lock = threading.Lock()

    def get(self, ids: Sequence[str], read: Callable[[list[str]], Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The vectors of `ids` that exist, those not held read with `read(missing)` and kept."""
        current = self._version()
        with self._lock:
            if current != self._seen:
                self._clear()
                self._seen = current
            held = {pid: self._vectors[pid] for pid in ids if pid in self._vectors}
            for pid in held:
                self._vectors.move_to_end(pid)
        missing = [pid for pid in dict.fromkeys(ids) if pid not in held]
        if not missing:
            return held
        fresh = read(missing)
        after = self._version()
        with self._lock:
            if self._seen == current == after:  # no write meanwhile, by this process or another
                for pid, vector in fresh.items():
                    self._put(pid, vector)
        return held | dict(fresh)

    def clear(self) -> None:
        with self._lock:
            self._clear()
            self._seen = None

    def __len__(self) -> int:
        return len(self._vectors)

    def _put(self, pid: str, vector: np.ndarray) -> None:
        if pid in self._vectors:
            return
        self._vectors[pid] = vector
        self._bytes += vector.nbytes
        while self._bytes > self.max_bytes and self._vectors:
            _, dropped = self._vectors.popitem(last=False)
            self._bytes -= dropped.nbytes

    def _clear(self) -> None:
        self._vectors.clear()
        self._bytes = 0
