"""HybridRetriever: DPR and BM25 fused by passage id, as a LlamaIndex retriever."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

from .dense import DPRRetriever
from .encoders import Encoder
from .filters import as_filters
from .fusion import (
    DEFAULT_LINEAR_WEIGHT,
    DEFAULT_RRF_DENSE_WEIGHT,
    DEFAULT_SCALED_WEIGHT,
    Fusion,
    Normalization,
    fusion_normalization,
    linear_fusion,
    reciprocal_rank_fusion,
)
from .nodes import to_nodes
from .passages import Passage
from .persist import DEFAULT_TOP_K, PersistMixin, collection_for
from .sparse import BM25Retriever
from .stores import Collection
from .tracing import NULL_TRACER, Tracer, record_run

DEFAULT_CANDIDATES = 100


class HybridRetriever(PersistMixin, BaseRetriever):
    """Dense and sparse retrieval fused, as DPR's hybrid (BM25 + lambda * sim) or by reciprocal rank.

    Both retrievers return `candidates` passages (at least `similarity_top_k`); the runs are
    merged by passage id. With `fusion="linear"`, a passage found by only one retriever gets its
    exact score from the other, so the linear combination is computed on real scores (so it is with "rsf" and
    "dbsf", the same combination over min-max and mean +- 3 sd scaled runs).

    Args:
        dense: a `DPRRetriever`.
        sparse: a `BM25Retriever` over the same passages.
        fusion: "rrf" (reciprocal-rank fusion, the default), "linear" (DPR's), "rsf" (relative score fusion:
            linear over min-max scaled runs) or "dbsf" (distribution-based: over mean +- 3 sd scaled runs).
        rrf_k: the RRF constant (60, as in Cormack et al.).
        dense_weight: lambda in `BM25 + lambda * sim` over z-scored runs (default 4.0, chosen on nq-vital
            validation; the paper used 1.1 on raw scores); in RRF the dense run's weight against BM25's 1
            (default 2: the dense retriever is the stronger one on NQ-style questions); for rsf and dbsf 1.
        normalization: how scores are put on one scale before linear fusion ("zscore", "minmax", "none").
        concurrent: run BM25 in a worker thread while the question is encoded (default); False runs
            the two one after the other (same results, for comparison and debugging).
        filters: metadata filters every search meets (LlamaIndex's `MetadataFilters`, their JSON, or
            `retrievers.filters.Filters`), applied to both runs before fusion.
    """

    def __init__(
        self,
        dense: DPRRetriever,
        sparse: BM25Retriever,
        *,
        fusion: Fusion | str = Fusion.RRF,
        similarity_top_k: int = DEFAULT_TOP_K,
        candidates: int = DEFAULT_CANDIDATES,
        rrf_k: int = 60,
        dense_weight: float | None = None,
        normalization: Normalization | str = Normalization.ZSCORE,
        collection: Collection | None = None,
        concurrent: bool = True,
        filters: Any = None,
        callback_manager: Optional[CallbackManager] = None,
        verbose: bool = False,
    ) -> None:
        self.dense = dense
        self.sparse = sparse
        self.fusion = Fusion(fusion)
        self.similarity_top_k = similarity_top_k
        self.candidates = candidates
        self.rrf_k = rrf_k
        if dense_weight is None:
            dense_weight = {Fusion.LINEAR: DEFAULT_LINEAR_WEIGHT, Fusion.RRF: DEFAULT_RRF_DENSE_WEIGHT}.get(
                self.fusion, DEFAULT_SCALED_WEIGHT
            )
        self.dense_weight = dense_weight
        self.normalization = Normalization(normalization)
        self.collection = collection
        self.filters = as_filters(filters)
        self.concurrent = concurrent
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bm25") if concurrent else None
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
        **options: Any,
    ) -> "HybridRetriever":
        """Open a collection of the store (creating and filling it from `nodes` when given).

        `options` are this class's keyword arguments (fusion, candidates, rrf_k, ...).
        """
        coll = collection_for(collection, store_dir, chroma_url, nodes, encoder)
        dense = DPRRetriever.from_defaults(coll, encoder=encoder, similarity_top_k=similarity_top_k)
        sparse = BM25Retriever.from_defaults(coll, similarity_top_k=similarity_top_k)
        return cls(dense, sparse, similarity_top_k=similarity_top_k, collection=coll, **options)

    def persist_config(self) -> dict[str, Any]:
        return {
            **super().persist_config(),
            "fusion": self.fusion.value,
            "candidates": self.candidates,
            "rrf_k": self.rrf_k,
            "dense_weight": self.dense_weight,
            "normalization": self.normalization.value,
        }

    def search(
        self, query: str, k: int | None = None, *, tracer: Tracer = NULL_TRACER, filters: Any = None
    ) -> list[tuple[Passage, float]]:
        """The fused top passages with their fused scores, under `filters` (else the retriever's own), both runs
        restricted before fusion; each step is a span of `tracer`."""
        k = k or self.similarity_top_k
        depth = max(self.candidates, k)
        ids = self.allowed_ids(filters)
        exact = self.fusion is not Fusion.RRF
        sparse_future = None
        if self._pool is not None:
            context = contextvars.copy_context()  # so the BM25 span nests under the caller's span
            # runs while we encode: BM25, then (for exact scores) the stored vectors of what it found
            sparse_future = self._pool.submit(context.run, self._sparse_side, query, depth, tracer, ids, exact)
        with tracer.span("retrieve.dense", input={"query": query, "k": depth}) as span:
            vector = self.dense.encode_query(query)
            dense_run = self.dense.search_ids(vector, depth, ids)
            record_run(tracer, span, dense_run)
        sparse_run, stored = (
            sparse_future.result() if sparse_future is not None else self._sparse_side(query, depth, tracer, ids, exact)
        )
        with tracer.span("retrieve.fusion", input={"method": self.fusion.value, "k": k}) as span:
            if not exact:
                fused = reciprocal_rank_fusion([sparse_run, dense_run], k=self.rrf_k, weights=[1.0, self.dense_weight])
            else:
                sparse_scores, dense_scores = self.exact_scores(query, vector, sparse_run, dense_run, stored)
                fused = linear_fusion(
                    sparse_scores,
                    dense_scores,
                    weight=self.dense_weight,
                    normalization=fusion_normalization(self.fusion, self.normalization),
                )
            hits = self._with_texts(fused, k)
            record_run(tracer, span, [(p.id, score) for p, score in hits])
        return hits

    def exact_scores(
        self,
        query: str,
        vector: np.ndarray,
        sparse_run: Sequence[tuple[str, float]],
        dense_run: Sequence[tuple[str, float]],
        stored: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Both runs' scores over their union: a passage found by one retriever gets its exact score from the
        other (BM25 scores it, or its stored vector's inner product with the question's; `stored` holds vectors
        already read, as the BM25 thread reads those of its run while the question is encoded)."""
        sparse_scores, dense_scores = dict(sparse_run), dict(dense_run)
        sparse_scores.update(self.sparse.score(query, [pid for pid in dense_scores if pid not in sparse_scores]))
        missing = [pid for pid in sparse_scores if pid not in dense_scores]
        dense_scores.update(self.dense.score_vector(vector, missing, stored))
        return sparse_scores, dense_scores

    def _with_texts(self, fused: list[tuple[str, float]], k: int) -> list[tuple[Passage, float]]:
        """The first `k` fused passages that the passage table holds, with their texts.

        While an ingest runs, Chroma may hold vectors whose passages are not in the table yet; they
        are passed over rather than returned without a text, so a result is never short.
        """
        hits: list[tuple[Passage, float]] = []
        start = 0
        while len(hits) < k and start < len(fused):
            chunk = fused[start : start + k - len(hits)]
            known = self.sparse.passages.get([pid for pid, _ in chunk])
            hits.extend((known[pid], score) for pid, score in chunk if pid in known)
            start += len(chunk)
        return hits

    def prime(self, queries: Sequence[str]) -> None:
        """Batch-encode questions ahead of an evaluation run (see `DPRRetriever.prime`)."""
        self.dense.prime(queries)

    def _sparse_side(
        self, query: str, depth: int, tracer: Tracer, ids: Sequence[str] | None, with_vectors: bool
    ) -> tuple[list[tuple[str, float]], Mapping[str, np.ndarray]]:
        """BM25's run and, for exact fusion, the stored vectors of its passages (read here, off the encoder's path)."""
        run = self._sparse_run(query, depth, tracer, ids)
        return run, self.dense.store.embeddings([pid for pid, _ in run]) if with_vectors and run else {}

    def _sparse_run(self, query: str, depth: int, tracer: Tracer, ids: Sequence[str] | None) -> list[tuple[str, float]]:
        with tracer.span("retrieve.bm25", input={"query": query, "k": depth}) as span:
            run = self.sparse.search_ids(query, depth, ids)
            record_run(tracer, span, run)
        return run

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return to_nodes(self.search(query_bundle.query_str))
