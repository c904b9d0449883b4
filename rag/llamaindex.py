"""Our pieces behind LlamaIndex's interfaces: the answer engine as a query or chat engine, and the
configured model (any litellm model, or the embedded one) as a LlamaIndex LLM."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator, Optional

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.base.response.schema import Response
from llama_index.core.chat_engine.types import AgentChatResponse, BaseChatEngine, StreamingAgentChatResponse
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore

from retrievers.nodes import to_node

from .llm import Generation


class EngineQueryEngine(CustomQueryEngine):
    """`query(question)` answers with citations; `source_nodes` are the passages the model read."""

    engine: Any

    def custom_query(self, query_str: str) -> Response:
        answer = self.engine.ask(query_str)
        return Response(response=answer.answer, source_nodes=_nodes(answer),
                        metadata={"cited": [s.n for s in answer.cited], "model": answer.model,
                                  "refused": answer.refused, "timings": answer.timings})


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

    async def astream_chat(self, message: str,
                           chat_history: Optional[list[ChatMessage]] = None) -> StreamingAgentChatResponse:
        return await asyncio.to_thread(self.stream_chat, message, chat_history)

    def _adopt(self, chat_history: Optional[list[ChatMessage]]) -> None:
        if chat_history is not None:
            self.session.history = [{"role": str(m.role.value), "content": m.content or ""} for m in chat_history]


def _nodes(answer: Any) -> list[NodeWithScore]:
    return [to_node(s.passage, s.score) for s in answer.sources]


class LlamaIndexLLM(CustomLLM):
    """A `rag.llm.LLM` as a LlamaIndex LLM, for LlamaIndex tools that need one (question generation,
    evaluators): same model strings, same local default, same clear errors."""

    llm: Any

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.llm.context_window, num_output=self.llm.max_tokens,
                           model_name=self.llm.model)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return CompletionResponse(text=self.llm.complete([{"role": "user", "content": prompt}]).text)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def pieces() -> CompletionResponseGen:
            generation = Generation()
            for piece in self.llm.stream([{"role": "user", "content": prompt}], generation):
                yield CompletionResponse(text=generation.text, delta=piece)

        return pieces()
