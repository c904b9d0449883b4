"""A scripted LLM for engine tests: records what it was sent, answers from a script."""

from __future__ import annotations

import copy

from rag.llm import Generation, Usage


class ScriptedLLM:
    def __init__(
        self, answers: list[str] | None = None, *, condense: str = "", context_window: int = 4096, max_tokens: int = 64
    ) -> None:
        self.answers = list(answers or ["The answer [1]"])
        self.condense_reply = condense
        self.calls: list[list[dict]] = []
        self.model = "scripted/test"
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.temperature = 0.0
        self.settings_seen: list[tuple[int, float]] = []  # (max_tokens, temperature) of each answer, shared by clones

    def with_options(self, *, max_tokens=None, temperature=None):
        clone = copy.copy(self)
        clone.max_tokens = self.max_tokens if max_tokens is None else max_tokens
        clone.temperature = self.temperature if temperature is None else temperature
        return clone

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def complete(self, messages):
        self.calls.append(messages)
        return Generation(text=self.condense_reply, usage=Usage(10, 5), seconds=0.01)

    def stream(self, messages, generation):
        self.calls.append(messages)
        self.settings_seen.append((self.max_tokens, self.temperature))
        text = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        for word in text.split(" "):
            piece = word if not generation.text else " " + word
            generation.text += piece
            generation.first_token_s = generation.first_token_s or 0.001
            yield piece
        generation.usage = Usage(self.count_tokens(messages[-1]["content"]), len(text.split()))
