"""The retrieval core: DPR encoders, a Chroma dense store, BM25, fusion, and LlamaIndex retrievers.

    from retrievers import HybridRetriever
    retriever = HybridRetriever.from_defaults("wiki-vital")
    nodes = retriever.retrieve("who wrote the origin of species")

The names below are the public API; the sub-packages export the rest: `retrievers.encoders` (the
backends, `load_encoder`), `retrievers.stores` (the collection's passage table, Chroma and BM25
parts), `retrievers.reader` (the reader and its training) and `retrievers.training` (the DPR trainer).
"""

from importlib import import_module
from typing import Any

# name -> the module that defines it; imported on first use, so that `import retrievers.encoders` or
# `retrievers.errors` (the CLI's parser, the settings) does not load LlamaIndex and the trainer's stack
_PUBLIC = {
    "DPRRetriever": ".dense",
    "BM25Retriever": ".sparse",
    "HybridRetriever": ".hybrid",
    "linear_fusion": ".fusion",
    "reciprocal_rank_fusion": ".fusion",
    "Collection": ".stores",
    "SourceUpdate": ".stores",
    "Passage": ".passages",
    "make_passages": ".passages",
    "DEFAULT_MODEL": ".encoders",
    "DPREncoder": ".encoders",
    "Encoder": ".encoders",
    "load_encoder": ".encoders",
    "Reader": ".reader",
    "CollectionNotFound": ".errors",
    "ModelNotFound": ".errors",
    "RagError": ".errors",
    "StoreUnavailable": ".errors",
    "NULL_TRACER": ".tracing",
    "Tracer": ".tracing",
    "TrainConfig": ".training",
    "train": ".training",
}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:  # a sub-module not imported yet (`retrievers.stores`)
        try:
            return import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module 'retrievers' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])


__all__ = list(_PUBLIC)
