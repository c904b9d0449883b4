"""The retrieval core: DPR encoders, a Chroma dense store, BM25, fusion, and LlamaIndex retrievers.

    from retrievers import HybridRetriever
    retriever = HybridRetriever.from_defaults("wiki-vital")
    nodes = retriever.retrieve("who wrote the origin of species")
"""

from .bm25 import BM25Retriever
from .bm25_index import BM25Index
from .chroma_store import ChromaStore, Store, chroma_client, validate_collection_name
from .collection import Collection, SourceUpdate, UpdateStats, default_store_dir, list_collections
from .dense import DPRRetriever
from .encoders import DEFAULT_MODEL, DPREncoder, Encoder, resolve_model_path
from .errors import CollectionNotFound, ModelNotFound, RagError, StoreUnavailable
from .fusion import Fusion, Normalization, linear_fusion, reciprocal_rank_fusion
from .hybrid import HybridRetriever
from .passages import DEFAULT_PASSAGE_WORDS, Passage, make_passages, passage_ids, split_text
from .tracing import NULL_TRACER, NullTracer, Span, Tracer

__all__ = [
    "BM25Index", "BM25Retriever", "ChromaStore", "Collection", "CollectionNotFound", "DEFAULT_MODEL",
    "DEFAULT_PASSAGE_WORDS", "DPREncoder", "DPRRetriever", "Encoder", "Fusion", "HybridRetriever",
    "ModelNotFound", "NULL_TRACER", "Normalization", "NullTracer", "Passage", "RagError", "SourceUpdate", "Span", "Store", "StoreUnavailable", "Tracer",
    "UpdateStats", "chroma_client", "default_store_dir", "linear_fusion", "list_collections", "make_passages",
    "passage_ids", "reciprocal_rank_fusion", "resolve_model_path", "split_text", "validate_collection_name",
]
