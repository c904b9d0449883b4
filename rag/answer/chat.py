"""`ChatSession`: a conversation with the engine, each question condensed with the history before it is
answered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generator

from retrievers.filters import Filters

from ..llm import Message
from .types import Answer, AnswerStream

if TYPE_CHECKING:
    from .engine import Engine


class ChatSession:
    """A conversation: each question is condensed with the history, then answered with citations."""

    def __init__(self, engine: Engine, filters: Filters | None = None) -> None:
        self.engine = engine
        self.filters = filters
        self.history: list[Message] = []
        self.last: Answer | None = None

    def ask(self, question: str) -> Answer:
        return self.stream(question).finish()

    def stream(self, question: str) -> AnswerStream:
        return AnswerStream(self._turn(question))

    def _turn(self, question: str) -> Generator[str, None, Answer]:
        answer = yield from self.engine._run(question, list(self.history), self.filters)
        self.history += [{"role": "user", "content": answer.question}, {"role": "assistant", "content": answer.answer}]
        self.last = answer
        return answer

    def reset(self) -> None:
        self.history, self.last = [], None
