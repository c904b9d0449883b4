"""The answer engine behind LlamaIndex's interfaces: `Engine.as_query_engine()` and `as_chat_engine()`, so a
LlamaIndex app queries or chats with it as with its own engines."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, Optional

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.base.response.schema import Response
from llama_index.core.chat_engine.types import AgentChatResponse, BaseChatEngine, StreamingAgentChatResponse
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore

from retrievers.nodes import to_node


class EngineQueryEngine(CustomQueryEngine):
    """`query(question)` answers with citations; `source_nodes` are the passages the model read."""

    engine: Any

    def custom_query(self, query_str: str) -> Response:
        answer = self.engine.ask(query_str)
        return Response(
            response=answer.answer,
            source_nodes=_nodes(answer),
            metadata={
                "cited": [s.n for s in answer.cited],
                "model": answer.model,
                "refused": answer.refused,
                "timings": answer.timings,
            },
        )


class EngineChatEngine(BaseChatEngine):
    """A `ChatSession` behind LlamaIndex's chat-engine interface."""

    def __init__(self, session: Any) -> None:
        self.session = session

    @property
    def chat_history(self) -> list[ChatMessage]:
        return [ChatMessage(role=m["role"], content=m["content"]) for m in self.session.history]

    def reset(self) -> None:
        self.session.reset()

    def chat(self, message: str, chat_history: Optional[list[ChatMessage]] = None) -> AgentChatResponse:
        self._adopt(chat_history)
        answer = self.session.ask(message)
        return AgentChatResponse(response=answer.answer, source_nodes=_nodes(answer))

    def stream_chat(self, message: str, chat_history: Optional[list[ChatMessage]] = None) -> StreamingAgentChatResponse:
        self._adopt(chat_history)
        source_nodes: list[NodeWithScore] = []  # filled when the stream ends

        def deltas() -> Iterator[ChatResponse]:
            stream = self.session.stream(message)
            text = ""
            for piece in stream:
                text += piece
                yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=piece)
            source_nodes.extend(_nodes(stream.answer))

        return StreamingAgentChatResponse(chat_stream=deltas(), source_nodes=source_nodes, is_writing_to_memory=False)

    async def achat(self, message: str, chat_history: Optional[list[ChatMessage]] = None) -> AgentChatResponse:
        return await asyncio.to_thread(self.chat, message, chat_history)

    async def astream_chat(
        self, message: str, chat_history: Optional[list[ChatMessage]] = None
    ) -> StreamingAgentChatResponse:
        return await asyncio.to_thread(self.stream_chat, message, chat_history)

    def _adopt(self, chat_history: Optional[list[ChatMessage]]) -> None:
        if chat_history is not None:
            self.session.history = [{"role": str(m.role.value), "content": m.content or ""} for m in chat_history]


def _nodes(answer: Any) -> list[NodeWithScore]:
    return [to_node(s.passage, s.score) for s in answer.sources]
