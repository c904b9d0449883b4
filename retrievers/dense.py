"""DPRRetriever: dense passage retrieval as a LlamaIndex retriever."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

from .encoders import Encoder
from .filters import as_filters
from .nodes import to_nodes
from .passages import Passage
from .persist import DEFAULT_TOP_K, PersistMixin, collection_for
from .stores import Collection, Store


class DPRRetriever(PersistMixin, BaseRetriever):
    """Dense passage retrieval (Karpukhin et al. 2020): the question encoder's vector is matched
    against passage vectors by inner product.

    Args:
        store: the dense store holding passage vectors (a `ChromaStore`, or any `Store`).
        encoder: the question/passage encoder the vectors were made with.
        similarity_top_k: how many passages to return.
        collection: the collection the store belongs to, when there is one (used by `persist` and filters).
        filters: metadata filters every search meets (LlamaIndex's `MetadataFilters`, their JSON, or
            `retrievers.filters.Filters`): a passage that fails them is never returned.
    """

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        similarity_top_k: int = DEFAULT_TOP_K,
        *,
        collection: Collection | None = None,
        filters: Any = None,
        callback_manager: Optional[CallbackManager] = None,
        verbose: bool = False,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.similarity_top_k = similarity_top_k
        self.collection = collection
        self.filters = as_filters(filters)
        self._primed: dict[str, np.ndarray] = {}
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
    ) -> "DPRRetriever":
        """Open a collection of the store (creating and filling it from `nodes` when given)."""
        coll = collection_for(collection, store_dir, chroma_url, nodes, encoder)
        return cls(
            coll.dense(),
            encoder or coll.encoder(),
            similarity_top_k,
            collection=coll,
            filters=filters,
            callback_manager=callback_manager,
            verbose=verbose,
        )

    def prime(self, queries: Sequence[str]) -> None:
        """Encode many questions in batches ahead of searching them (an evaluation run): later
        searches for these questions skip the encoder. `forget_primed()` drops them."""
        unique = list(dict.fromkeys(q for q in queries if q not in self._primed))
        if unique:
            self._primed.update(zip(unique, self.encoder.encode_query(unique)))

    def forget_primed(self) -> None:
        self._primed.clear()

    def encode_query(self, query: str) -> np.ndarray:
        vector = self._primed.get(query)
        return vector if vector is not None else self.encoder.encode_query([query])[0]

    def search_vector(
        self, vector: np.ndarray, k: int, ids: Sequence[str] | None = None
    ) -> list[tuple[Passage, float]]:
        return self.store.query(vector, k, ids)

    def search_ids(self, vector: np.ndarray, k: int, ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The top passage ids (among `ids`, when given) with their inner products (no texts fetched)."""
        return self.store.query_ids(vector, k, ids)

    def score_vector(
        self, vector: np.ndarray, ids: Sequence[str], stored: Mapping[str, np.ndarray] | None = None
    ) -> dict[str, float]:
        """Exact inner products of given passages with a question vector; vectors in `stored` (already read) are
        used as they are, the others read from the store."""
        stored = stored or {}
        vectors = {pid: stored[pid] for pid in ids if pid in stored}
        vectors.update(self.store.embeddings([pid for pid in ids if pid not in stored]))
        if not vectors:
            return {}
        return dict(zip(vectors, (np.stack(list(vectors.values())) @ vector).tolist()))

    def search(self, query: str, k: int | None = None, *, filters: Any = None) -> list[tuple[Passage, float]]:
        """The top passages with their inner-product scores, under `filters` (else the retriever's own)."""
        ids = self.allowed_ids(filters)
        return self.search_vector(self.encode_query(query), k or self.similarity_top_k, ids)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # Always our question encoder: a bundle's embedding may come from another model.
        return to_nodes(self.search(query_bundle.query_str))
