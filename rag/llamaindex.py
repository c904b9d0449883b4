"""The answer engine as a LlamaIndex query engine, for apps built on LlamaIndex."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine

from retrievers.nodes import to_node


class EngineQueryEngine(CustomQueryEngine):
    """`query(question)` answers with citations; `source_nodes` are the passages the model read."""

    engine: Any

    def custom_query(self, query_str: str) -> Response:
        answer = self.engine.ask(query_str)
        nodes = [to_node(s.passage, s.score) for s in answer.sources]
        return Response(response=answer.answer, source_nodes=nodes,
                        metadata={"cited": [s.n for s in answer.cited], "model": answer.model,
                                  "refused": answer.refused, "timings": answer.timings})
