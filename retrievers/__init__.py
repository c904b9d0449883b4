"""The retrieval core: DPR encoders, a Chroma dense store, BM25, fusion, and LlamaIndex retrievers.

    from retrievers import HybridRetriever
    retriever = HybridRetriever.from_defaults("wiki-vital")
    nodes = retriever.retrieve("who wrote the origin of species")
"""

from typing import Any

from .answers import Question, has_answer, normalize, read_qa
from .bm25 import BM25Retriever
from .dense import DPRRetriever
from .encoders import DEFAULT_MODEL, DPREncoder, Encoder, resolve_model_path
from .errors import CollectionNotFound, ModelNotFound, RagError, StoreUnavailable
from .fusion import Fusion, Normalization, linear_fusion, reciprocal_rank_fusion
from .hybrid import HybridRetriever
from .passages import DEFAULT_PASSAGE_WORDS, Passage, make_passages, passage_ids, split_text
from .reader import Reader, ReaderTrainConfig, Reading, cloze_examples, read_reader_record, rerank, train_reader
from .stores import (
    BM25Index,
    ChromaStore,
    Collection,
    SourceUpdate,
    Store,
    UpdateStats,
    chroma_client,
    default_store_dir,
    list_collections,
    validate_collection_name,
)
from .tracing import NULL_TRACER, NullTracer, Span, Tracer
from .training import TrainingExample, ValidationSet, build_examples, mine_examples, read_pairs

_TRAINING = ("TrainConfig", "TrainResult", "train", "read_training_record")


def __getattr__(name: str) -> Any:
    """The trainer loads sentence-transformers' training stack, so it is imported on first use."""
    if name in _TRAINING:
        from .training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'retrievers' has no attribute {name!r}")

__all__ = [
    "BM25Index", "BM25Retriever", "ChromaStore", "Collection", "CollectionNotFound", "DEFAULT_MODEL",
    "DEFAULT_PASSAGE_WORDS", "DPREncoder", "DPRRetriever", "Encoder", "Fusion", "HybridRetriever",
    "ModelNotFound", "NULL_TRACER", "Normalization", "NullTracer", "Passage", "RagError", "SourceUpdate", "Span",
    "Store", "StoreUnavailable", "Tracer",
    "UpdateStats", "chroma_client", "default_store_dir", "linear_fusion", "list_collections", "make_passages",
    "passage_ids", "reciprocal_rank_fusion", "resolve_model_path", "split_text", "validate_collection_name",
    "Question", "has_answer", "normalize", "read_qa", "TrainingExample", "ValidationSet", "build_examples",
    "mine_examples", "read_pairs", "Reader", "Reading", "read_reader_record", "rerank", "ReaderTrainConfig",
    "train_reader", "cloze_examples",
    *_TRAINING,
]
