"""Passage encoding spread over worker processes, each with its own copy of the model.

A small encoder's matrix products stop scaling well past a thread or two, so on C cores W processes
of C/W threads encode more passages per second than one process with C threads (measured here: two
single-thread torch-bf16 workers encode 1.45x as fast as one two-thread process). `ParallelEncoder`
is an ordinary `Encoder`: passages go to the workers in interleaved slices (the collection sorts
them by length, so every worker gets a like share of long and short ones) and come back in order;
questions are encoded in this process, where one short text is not worth a round trip. Each process
loads its encoder with the `load` function it is given (`factory.load_encoder`), so this module
needs no backend of its own.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

import numpy as np

from ..environment import quiet_offline
from ..errors import RagError
from .base import Encoder, model_name, resolve_model_path

_worker: Encoder | None = None


def _start_worker(
    load: Callable[..., Encoder], model: str, backend: str, options: dict[str, Any], threads: int
) -> None:
    global _worker
    quiet_offline()
    # before torch is imported in this fresh process: its OpenMP pool is sized once, at start-up
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if backend.startswith("onnx"):
        options = {**options, "threads": threads}
    else:
        import torch

        torch.set_num_threads(threads)
    _worker = load(model, backend=backend, **options)


def _encode(texts: Sequence[str]) -> np.ndarray:
    assert _worker is not None, "worker not started"
    return _worker.encode_passage(texts)


def _dimension(_: int) -> int:
    assert _worker is not None, "worker not started"
    return int(_worker.dimension)


class ParallelEncoder:
    """`workers` processes encode passages, each with `threads` threads (default: the cores shared out).

    `load(model, backend=..., **options)` makes the encoder of each process (and of this one, for
    questions): a module-level function, so that the worker processes can import it.

    Use it as a context manager, or call `close()`, so the workers end with the work.
    """

    def __init__(
        self,
        model: str,
        *,
        workers: int,
        load: Callable[..., Encoder],
        backend: str = "torch",
        threads: int | None = None,
        **options: Any,
    ) -> None:
        if workers < 2:
            raise ValueError("a ParallelEncoder needs at least 2 workers; use load_encoder for one")
        resolve_model_path(model)  # a missing model fails here, in one clear line, not inside a worker
        self.workers = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self._model, self._backend, self._options, self._load = model, backend, dict(options), load
        self._local: Encoder | None = None
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(load, model, backend, self._options, self.threads),
        )
        try:  # start every worker now (loading a model takes seconds), so a bad model fails here
            dimensions = set(self._pool.map(_dimension, range(workers)))
        except BrokenProcessPool as exc:
            self.close()
            raise RagError(
                f"the {workers} encoder processes for {model} could not start ({exc}); try --workers 1 "
                "to see the error in this process"
            ) from None
        except BaseException:
            self.close()
            raise
        self.dimension = dimensions.pop()
        self.name = model_name(model)

    def _question_encoder(self) -> Encoder:
        if self._local is None:
            self._local = self._load(self._model, backend=self._backend, **self._options)
        return self._local

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        return self._question_encoder().encode_query(texts)

    def encode_passage(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        slices = [list(texts[i :: self.workers]) for i in range(self.workers)]
        for i, vectors in enumerate(self._pool.map(_encode, slices)):
            out[i :: self.workers] = vectors
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ParallelEncoder":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ParallelEncoder({self._model!r}, backend={self._backend!r}, workers={self.workers}, "
            f"threads={self.threads})"
        )
