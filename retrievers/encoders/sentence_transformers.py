"""The reference encoder backend: sentence-transformers models run with torch (fp32 or bfloat16 weights)."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..environment import quiet_offline
from ..errors import ModelNotFound
from .base import DEFAULT_MODEL, PASSAGE_SUBDIR, QUERY_SUBDIR, model_name, resolve_model_path

_load_lock = threading.Lock()


PRECISIONS = ("fp32", "bf16")


@lru_cache(maxsize=8)
def _load_sentence_transformer(path: str, device: str | None, precision: str = "fp32") -> Any:
    """Load a model once per process; later encoders over the same path share it."""
    quiet_offline()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise in a CLI
    kwargs: dict[str, Any] = {}
    if precision == "bf16":
        import torch

        kwargs["model_kwargs"] = {"torch_dtype": torch.bfloat16}
    try:
        return SentenceTransformer(path, device=device or "cpu", local_files_only=True, **kwargs)
    except Exception as exc:  # a broken or foreign directory: say which and why
        raise ModelNotFound(f"cannot load a sentence-transformers model from {path}: {exc}") from exc


def load_model(path: Path, device: str | None = None, precision: str = "fp32") -> Any:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    with _load_lock:
        return _load_sentence_transformer(str(path.resolve()), device, precision)


class DPREncoder:
    """Question and passage encoders over sentence-transformers models (DPR's dual encoder).

    `model` is a shipped model's name or a local directory. A directory holding
    `query_encoder/` and `passage_encoder/` is a pair with separate encoders (as DPR trains
    them); otherwise one model encodes both sides through its `encode_query` /
    `encode_document` (so asymmetric sentence-transformers models route correctly).
    Vectors are L2-normalised by default, making inner product equal to cosine similarity.
    `precision="bf16"` runs the weights in bfloat16 (about twice as fast on CPUs with AMX or
    AVX512-BF16, and the usual choice on GPUs); vectors still come back as float32.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        normalize: bool = True,
        batch_size: int = 32,
        device: str | None = None,
        precision: str = "fp32",
    ) -> None:
        self.normalize = normalize
        self.batch_size = batch_size
        self.precision = precision
        path = resolve_model_path(model)
        if (path / QUERY_SUBDIR).is_dir() and (path / PASSAGE_SUBDIR).is_dir():
            self._query_model = load_model(path / QUERY_SUBDIR, device, precision)
            self._passage_model = load_model(path / PASSAGE_SUBDIR, device, precision)
        else:
            self._query_model = self._passage_model = load_model(path, device, precision)
        self.path = path
        self.name = model_name(model)
        model = self._passage_model
        dim = (
            model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else model.get_sentence_embedding_dimension()
        )
        self.dimension = int(dim)

    def encode_query(self, texts: Sequence[str]) -> np.ndarray:
        """Encode questions with the question encoder; returns float32 (n, dimension)."""
        return self._encode(self._query_model.encode_query, texts, False)

    def encode_passage(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """Encode passages with the passage encoder; returns float32 (n, dimension)."""
        return self._encode(self._passage_model.encode_document, texts, show_progress)

    def _encode(self, fn: Any, texts: Sequence[str], show_progress: bool) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = fn(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=self.normalize,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        if self.normalize and self.precision != "fp32":  # normalised in bf16: unit length to 1e-2 only
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors

    def __repr__(self) -> str:
        suffix = "" if self.precision == "fp32" else f", precision={self.precision!r}"
        return f"DPREncoder({self.name!r}, dimension={self.dimension}{suffix})"
