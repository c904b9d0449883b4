"""A second stage: the first stage's top candidates scored again by a `Reranker`, and the best `k` kept.

A reranker scores (question, passage) pairs jointly, which a dual encoder cannot: a sentence-transformers
CrossEncoder directory (`CrossEncoderReranker`), the reader's passage-selection head (`ReaderReranker`), or an
LLM (`rag.reranking.LLMReranker`, through litellm). `RerankedRetriever` puts one behind any of our retrievers
(search, filters, LlamaIndex `retrieve` alike) and `RerankPostprocessor` is the same second stage as a
LlamaIndex node postprocessor, for any retriever of a LlamaIndex app.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Protocol, Sequence

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CallbackManager
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from .errors import ModelNotFound, RagError
from .nodes import to_nodes
from .passages import Passage
from .persist import DEFAULT_TOP_K
from .tracing import NULL_TRACER, Tracer

logger = logging.getLogger(__name__)

DEFAULT_CANDIDATES = 50  # first-stage passages the reranker scores


class Reranker(Protocol):
    """Scores passages for a question, higher is better; one score per passage, in their order."""

    name: str

    def scores(self, query: str, passages: Sequence[Passage]) -> list[float]: ...


def rerank(
    reranker: Reranker, query: str, passages: Sequence[Passage], k: int | None = None
) -> list[tuple[Passage, float]]:
    """`passages` in the reranker's order (ties keep the first stage's), the best `k` with their new scores."""
    if not passages:
        return []
    scores = reranker.scores(query, passages)
    if len(scores) != len(passages):
        raise RagError(f"reranker {reranker.name} gave {len(scores)} scores for {len(passages)} passages")
    order = sorted(range(len(passages)), key=lambda i: -scores[i])
    return [(passages[i], float(scores[i])) for i in order[:k]]


class CrossEncoderReranker:
    """A sentence-transformers `CrossEncoder` saved in a directory (`rag train-reranker`'s output, or any
    user's): each (question, passage) pair through one transformer, its relevance logit the score."""

    def __init__(self, path: str | Path, *, batch_size: int = 32, max_length: int = 256, device: str = "cpu") -> None:
        directory = Path(path).expanduser()
        if not (directory / "config.json").is_file():
            raise ModelNotFound(
                f"reranker {str(path)!r}: not a CrossEncoder directory (no config.json); give a "
                "folder saved by sentence-transformers' CrossEncoder.save or `rag train-reranker`"
            )
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(str(directory), max_length=max_length, device=device, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelNotFound(
                f"reranker {str(path)!r} could not be loaded: {str(exc).splitlines()[0][:200]}"
            ) from None
        self.name = directory.name
        self.batch_size = batch_size

    def scores(self, query: str, passages: Sequence[Passage]) -> list[float]:
        pairs = [(query, p.indexed_text) for p in passages]
        return [float(s) for s in self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False)]


class ReaderReranker:
    """The reader's passage-selection logit (DPR's reader ranks its passages so): one reading of all of them."""

    def __init__(self, reader: Any, name: str = "reader") -> None:
        self.reader = reader
        self.name = name

    def scores(self, query: str, passages: Sequence[Passage]) -> list[float]:
        reading = self.reader.score(query, [p.indexed_text for p in passages])
        return [] if reading is None else [float(s) for s in reading.select]


class RerankedRetriever(BaseRetriever):
    """A first-stage retriever's `candidates` best passages, reranked, the best `similarity_top_k` kept.

    Args:
        first_stage: one of our retrievers (dense, BM25, hybrid); its filters and collection are used.
        reranker: a `Reranker`.
        candidates: how many first-stage passages the reranker scores (at least k).
        similarity_top_k: how many passages to return.
    """

    def __init__(
        self,
        first_stage: Any,
        reranker: Reranker,
        *,
        candidates: int = DEFAULT_CANDIDATES,
        similarity_top_k: int | None = None,
        callback_manager: Optional[CallbackManager] = None,
        verbose: bool = False,
    ) -> None:
        if candidates < 1:
            raise RagError("the reranker needs candidates: RAG_RERANK_CANDIDATES must be 1 or more")
        self.first_stage = first_stage
        self.reranker = reranker
        self.candidates = candidates
        self.similarity_top_k = similarity_top_k or getattr(first_stage, "similarity_top_k", DEFAULT_TOP_K)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @property
    def collection(self) -> Any:
        return self.first_stage.collection

    @property
    def filters(self) -> Any:
        return self.first_stage.filters

    @filters.setter
    def filters(self, value: Any) -> None:
        self.first_stage.filters = value

    def allowed_ids(self, filters: Any = None) -> list[str] | None:
        return self.first_stage.allowed_ids(filters)

    def prime(self, queries: Sequence[str]) -> None:
        if hasattr(self.first_stage, "prime"):
            self.first_stage.prime(queries)

    def search(
        self, query: str, k: int | None = None, *, tracer: Tracer = NULL_TRACER, filters: Any = None
    ) -> list[tuple[Passage, float]]:
        """The first stage's candidates for `query` (under `filters`), reranked; the reranking is a span of
        `tracer`."""
        k = k or self.similarity_top_k
        depth = max(self.candidates, k)
        if hasattr(self.first_stage, "dense") and hasattr(self.first_stage, "sparse"):  # hybrid: its spans too
            hits = self.first_stage.search(query, depth, tracer=tracer, filters=filters)
        else:
            hits = self.first_stage.search(query, depth, filters=filters)
        head, tail = hits[: self.candidates], hits[self.candidates :]
        with tracer.span(
            "rerank", input={"query": query, "candidates": len(head), "reranker": self.reranker.name}
        ) as span:
            ranked = rerank(self.reranker, query, [p for p, _ in head], k)
            span.update(output=[{"id": p.id, "score": round(s, 6)} for p, s in ranked])
        if len(ranked) < k and tail:  # past the candidates, the first stage's order, scored below every reranked one
            low = min((s for _, s in ranked), default=0.0)
            ranked += [(p, low - 1.0 - i) for i, (p, _) in enumerate(tail[: k - len(ranked)])]
        return ranked

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return to_nodes(self.search(query_bundle.query_str))


class RerankPostprocessor(BaseNodePostprocessor):
    """A `Reranker` as a LlamaIndex node postprocessor: the nodes any retriever returned, reranked, the best
    `top_n` kept. `RetrieverQueryEngine.from_args(retriever, node_postprocessors=[RerankPostprocessor(
    reranker=CrossEncoderReranker(DIR), top_n=5)])`."""

    top_n: int = Field(default=5, description="how many nodes to keep")
    _reranker: Any = PrivateAttr()

    def __init__(self, reranker: Reranker, top_n: int = 5, **kwargs: Any) -> None:
        super().__init__(top_n=top_n, **kwargs)
        self._reranker = reranker

    @classmethod
    def class_name(cls) -> str:
        return "RerankPostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: Optional[QueryBundle] = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise RagError("RerankPostprocessor needs the query: use it in a query engine, or pass query_str")
        if not nodes:
            return []
        passages = [
            Passage(
                id=n.node.node_id,
                text=n.node.get_content(metadata_mode=MetadataMode.NONE),
                title=str((n.node.metadata or {}).get("title", "")),
            )
            for n in nodes
        ]
        ranked = rerank(self._reranker, query_bundle.query_str, passages, self.top_n)
        by_id = {n.node.node_id: n for n in nodes}
        return [NodeWithScore(node=by_id[p.id].node, score=score) for p, score in ranked]
