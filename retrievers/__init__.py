"""The retrieval core: DPR encoders, a Chroma dense store, BM25, fusion, and LlamaIndex retrievers.

    from retrievers import HybridRetriever
    retriever = HybridRetriever.from_defaults("wiki-vital")
    nodes = retriever.retrieve("who wrote the origin of species")

The names below are the public API; the sub-packages export the rest: `retrievers.encoders` (the
backends, `load_encoder`), `retrievers.stores` (the collection's passage table, Chroma and BM25
parts), `retrievers.reader` (the reader and its training) and `retrievers.training` (the DPR trainer).
"""

from typing import Any

from .dense import DPRRetriever
from .encoders import DEFAULT_MODEL, DPREncoder, Encoder, load_encoder
from .errors import CollectionNotFound, ModelNotFound, RagError, StoreUnavailable
from .fusion import linear_fusion, reciprocal_rank_fusion
from .hybrid import HybridRetriever
from .passages import Passage, make_passages
from .reader import Reader
from .sparse import BM25Retriever
from .stores import Collection, SourceUpdate
from .tracing import NULL_TRACER, Tracer

_TRAINING = ("TrainConfig", "train")


def __getattr__(name: str) -> Any:
    """The trainer loads sentence-transformers' training stack, so it is imported on first use."""
    if name in _TRAINING:
        from . import training

        return getattr(training, name)
    raise AttributeError(f"module 'retrievers' has no attribute {name!r}")


__all__ = [
    "BM25Retriever", "DPRRetriever", "HybridRetriever", "linear_fusion", "reciprocal_rank_fusion",
    "Collection", "Passage", "SourceUpdate", "make_passages",
    "DEFAULT_MODEL", "DPREncoder", "Encoder", "load_encoder",
    "Reader",
    "CollectionNotFound", "ModelNotFound", "RagError", "StoreUnavailable",
    "NULL_TRACER", "Tracer",
    *_TRAINING,
]
