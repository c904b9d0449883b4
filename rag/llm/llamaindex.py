"""The configured model (any litellm model, or the embedded one) as a LlamaIndex LLM, for LlamaIndex tools
that need one."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import (
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_completion_callback

from .client import Generation


class LlamaIndexLLM(CustomLLM):
    """A `rag.llm.LLM` as a LlamaIndex LLM, for LlamaIndex tools that need one (question generation,
    evaluators): same model strings, same local default, same clear errors."""

    llm: Any

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.llm.context_window, num_output=self.llm.max_tokens, model_name=self.llm.model
        )

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
