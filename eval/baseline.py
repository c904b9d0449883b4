"""The stock LlamaIndex pipeline `rag bench` compares against, built the way its documentation shows.

`VectorStoreIndex` over a `ChromaVectorStore` (default collection settings), LlamaIndex's own
`BM25Retriever`, and `QueryFusionRetriever(mode="reciprocal_rerank", num_queries=1)`. It gets the
same passages and the same vectors as ours (copied from our store, so neither side pays for
encoding twice) and the same question encoder, wrapped as a LlamaIndex embedding model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.config import Settings
from rag.retrieval import open_collection
from retrievers.encoders import Encoder, load_encoder

_BATCH = 1000


class EncoderEmbedding(BaseEmbedding):
    """One of our encoders as a LlamaIndex embedding model (questions and passages by their own encoders)."""

    _encoder: Any = PrivateAttr()

    def __init__(self, encoder: Encoder, **kwargs: Any) -> None:
        super().__init__(model_name=encoder.name, **kwargs)
        self._encoder = encoder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoder.encode_query([query])[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encoder.encode_passage([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encoder.encode_passage(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class StockPipeline:
    """The three stock LlamaIndex retrievers over one corpus; `retriever(mode)` gives bm25, dense or hybrid."""

    def __init__(self, retrievers: dict[str, Any], texts: list[str], build_seconds: float, model: str) -> None:
        self._retrievers = retrievers
        self.model = model
        self.texts = texts
        self.count = len(texts)
        self.build_seconds = build_seconds

    def retriever(self, mode: str) -> Any:
        return self._retrievers[mode]

    def set_query_encoder(self, embedding: BaseEmbedding) -> None:
        """Encode questions with another embedding model (the stored vectors stay as they are)."""
        self._retrievers["dense"]._embed_model = embedding

    @classmethod
    def from_collection(
        cls, settings: Settings, collection: str, folder: Path, *, k: int = 20, backend: str = "torch"
    ) -> StockPipeline:
        """Build the pipeline in `folder` from one of our collections' passages and vectors; questions
        are encoded with the collection's model on `backend` (sentence-transformers by default)."""
        import chromadb
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.core.llms import MockLLM
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.core.schema import TextNode
        from llama_index.retrievers.bm25 import BM25Retriever
        from llama_index.vector_stores.chroma import ChromaVectorStore

        coll = open_collection(settings, collection)
        try:
            passages = list(coll.passages())
            vectors: dict = {}
            for start in range(0, len(passages), _BATCH):
                vectors.update(coll.dense().embeddings([p.id for p in passages[start : start + _BATCH]]))
            model = coll.model or settings.encoder
            encoder = load_encoder(model, **{**settings.encoder_options(), "backend": backend})
        finally:
            coll.close()
        nodes = [
            TextNode(
                id_=p.id,
                text=p.indexed_text,
                metadata={"doc_id": str(p.extra.get("doc_id") or p.source)},
                embedding=vectors[p.id].tolist(),
            )
            for p in passages
            if p.id in vectors
        ]
        started = time.perf_counter()
        client = chromadb.PersistentClient(path=str(folder), settings=chromadb.Settings(anonymized_telemetry=False))
        store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("stock"))
        index = VectorStoreIndex(
            nodes,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=EncoderEmbedding(encoder),
        )
        dense = index.as_retriever(similarity_top_k=k)
        bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=k)
        hybrid = QueryFusionRetriever(
            [dense, bm25], llm=MockLLM(), mode="reciprocal_rerank", num_queries=1, similarity_top_k=k, use_async=False
        )
        return cls(
            {"bm25": bm25, "dense": dense, "hybrid": hybrid},
            [n.text for n in nodes],
            time.perf_counter() - started,
            model,
        )
