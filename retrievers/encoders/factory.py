"""Choosing an encoder backend: the one module that imports them all, so none of them imports another's chooser.

`load_encoder` gives an `Encoder` for a model on a backend ("torch", "torch-bf16", "onnx", "onnx-int8"),
in this process or spread over worker processes; `opened_encoder` closes those workers with a block.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import ModelNotFound
from .base import DEFAULT_MODEL, Encoder, close_encoder, resolve_model_path
from .onnx import OnnxEncoder
from .parallel import ParallelEncoder
from .sentence_transformers import DPREncoder

logger = logging.getLogger(__name__)


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere torch emulates it, slower
    than fp32."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


BACKENDS = ("torch", "torch-bf16", "onnx", "onnx-int8")
AUTO = "auto"
DEFAULT_BACKEND = AUTO


def resolve_backend(backend: str, device: str | None = None) -> str:
    """The backend "auto" stands for: `onnx-int8` on the CPU, the fastest measured on both 2-core machines for
    passages and questions alike (2.6-3.1x fp32 sentence-transformers at ingest on AMD, 1.4x on Intel with AMX;
    questions 2.5x) with nq-vital top-20 within a point of fp32; `torch` on any other device (a GPU). Any
    other backend is itself."""
    if backend != AUTO:
        return backend
    return "onnx-int8" if (device or "cpu") == "cpu" else "torch"


def load_encoder(
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    *,
    backend: str = DEFAULT_BACKEND,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
    **options: Any,
) -> Encoder:
    """An encoder for `model` on one backend: "auto" (`resolve_backend`), "torch" (sentence-transformers, fp32),
    "torch-bf16" (sentence-transformers, bfloat16 weights), "onnx" (ONNX Runtime, fp32) or "onnx-int8" (ONNX
    Runtime, int8 weights). ONNX exports are made locally and cached under `cache_dir`.

    `workers > 1` encodes passages in that many processes (a `ParallelEncoder`; close it when done). With
    "auto", a model that ONNX Runtime cannot run (no fast tokenizer, an architecture the export fails on) is
    encoded with torch, with a warning in the log.
    """
    chosen = resolve_backend(backend, options.get("device"))
    if chosen not in BACKENDS:
        raise ValueError(f"encoder backend must be one of {AUTO}, {', '.join(BACKENDS)}, not {backend!r}")
    if workers > 1:
        return ParallelEncoder(
            str(model), workers=workers, load=load_encoder, backend=backend, cache_dir=cache_dir, **options
        )
    if backend == AUTO and chosen.startswith("onnx"):
        resolve_model_path(model)  # a missing model is its own error, not a reason to try torch
        try:
            return _backend_encoder(model, chosen, cache_dir, options)
        except (ModelNotFound, RuntimeError) as exc:
            logger.warning("%s cannot run on ONNX Runtime (%s): encoding with torch instead", model, exc)
            chosen = "torch"
    return _backend_encoder(model, chosen, cache_dir, options)


def _backend_encoder(
    model: str | os.PathLike[str], backend: str, cache_dir: str | os.PathLike[str] | None, options: dict
) -> Encoder:
    options = dict(options)
    if backend in ("torch", "torch-bf16"):
        if backend == "torch-bf16" and (options.get("device") or "cpu") == "cpu" and not native_bf16():
            import warnings

            warnings.warn(
                "this CPU has no native bfloat16 (AVX512-BF16 or AMX): torch-bf16 is emulated and slower "
                "than fp32; use onnx-int8 instead",
                RuntimeWarning,
                stacklevel=3,
            )
        return DPREncoder(model, precision="bf16" if backend == "torch-bf16" else "fp32", **options)
    if backend in ("onnx", "onnx-int8"):
        options.pop("device", None)  # ONNX Runtime runs on the CPU here
        return OnnxEncoder(
            model, precision="int8" if backend == "onnx-int8" else "fp32", cache_dir=cache_dir, **options
        )
    raise ValueError(f"encoder backend must be one of {', '.join(BACKENDS)}, not {backend!r}")


@contextmanager
def opened_encoder(model: str | os.PathLike[str] = DEFAULT_MODEL, **options: Any) -> Iterator[Encoder]:
    """`load_encoder` for a block of work: worker processes, if any, end with the block."""
    encoder = load_encoder(model, **options)
    try:
        yield encoder
    finally:
        close_encoder(encoder)
