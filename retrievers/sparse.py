"""BM25Retriever: BM25 over a collection's passages as a LlamaIndex retriever."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Protocol, Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

from .encoders import Encoder
from .filters import as_filters
from .nodes import to_nodes
from .passages import Passage
from .persist import DEFAULT_TOP_K, PersistMixin, collection_for
from .stores import BM25Index, Collection


class PassageLookup(Protocol):
    def get(self, ids: Sequence[str]) -> dict[str, Passage]: ...


class BM25Retriever(PersistMixin, BaseRetriever):
    """Sparse retrieval by BM25 (bm25s, English stemming and stopwords), the paper's baseline.

    Args:
        index: the BM25 index, or a zero-argument callable returning the current one (a
            collection's, which is rebuilt as passages change).
        passages: where the texts of the ids the index returns are looked up.
        similarity_top_k: how many passages to return.
        filters: metadata filters every search meets (LlamaIndex's `MetadataFilters`, their JSON, or
            `retrievers.filters.Filters`), applied before scoring: a passage that fails them is never returned.
    """

    def __init__(
        self,
        index: BM25Index | Any,
        passages: PassageLookup,
        similarity_top_k: int = DEFAULT_TOP_K,
        *,
        collection: Collection | None = None,
        filters: Any = None,
        callback_manager: Optional[CallbackManager] = None,
        verbose: bool = False,
    ) -> None:
        self._index = index
        self.passages = passages
        self.similarity_top_k = similarity_top_k
        self.collection = collection
        self.filters = as_filters(filters)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def from_defaults(
        cls,
        collection: str | Collection = "default",
        *,
        store_dir: str | Path | None = None,
        chroma_url: str | None = None,
        nodes: Optional[Sequence[BaseNode]] = None,
        encoder: Encoder | None = None,
        similarity_top_k: int = DEFAULT_TOP_K,
        filters: Any = None,
        callback_manager: Optional[CallbackManager] = None,
        verbose: bool = False,
    ) -> "BM25Retriever":
        """Open a collection of the store (creating and filling it from `nodes` when given;
        `encoder` is only used then, to encode the nodes' vectors)."""
        coll = collection_for(collection, store_dir, chroma_url, nodes, encoder)
        return cls(
            coll.bm25,
            coll,
            similarity_top_k,
            collection=coll,
            filters=filters,
            callback_manager=callback_manager,
            verbose=verbose,
        )

    @property
    def index(self) -> BM25Index:
        return self._index() if callable(self._index) else self._index

    def search_ids(self, query: str, k: int, ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The top passage ids (among `ids`, when given) with their BM25 scores."""
        return self.index.search(query, k, ids)

    def score(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        return self.index.score(query, ids)

    def search(self, query: str, k: int | None = None, *, filters: Any = None) -> list[tuple[Passage, float]]:
        """The top passages with their BM25 scores, under `filters` (else the retriever's own)."""
        run = self.search_ids(query, k or self.similarity_top_k, self.allowed_ids(filters))
        found = self.passages.get([pid for pid, _ in run])
        return [(found[pid], score) for pid, score in run if pid in found]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return to_nodes(self.search(query_bundle.query_str))
