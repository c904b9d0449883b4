"""What the answer engine gives back: the numbered sources, the short answer, the answer itself, and streams
that yield its text as it is generated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Generator, Iterator

from retrievers.errors import RagError
from retrievers.passages import Passage

_SNIPPET = 300


@dataclass
class Source:
    """A passage given to the model, numbered as the answer cites it."""

    n: int
    passage: Passage
    score: float
    cited: bool = False

    def to_dict(self) -> dict[str, Any]:
        text = " ".join(self.passage.text.split())
        return {
            "n": self.n,
            "id": self.passage.id,
            "title": self.passage.title,
            "source": self.passage.source,
            "location": self.passage.location,
            "snippet": text[:_SNIPPET] + ("…" if len(text) > _SNIPPET else ""),
            "score": round(self.score, 6),
            "cited": self.cited,
        }


@dataclass
class ShortAnswer:
    """An exact span of one source passage: the reader's answer, or the LLM's answer snapped to a span.

    `start`/`end` are character offsets into the passage as the models read it (title, then text:
    `context`), so a UI can highlight the span.
    """

    text: str
    source: int  # the `n` of the source it comes from
    passage_id: str
    start: int
    end: int
    context: str
    score: float  # reader: start + end logit; snapped: token F1 with the generated answer
    kind: str = "reader"  # "reader" or "snapped"
    check: float | None = None  # reader: the span checker's mean log-probability of this span, when it ran

    def to_dict(self) -> dict[str, Any]:
        before = self.context[max(0, self.start - _SNIPPET // 2) : self.start]
        after = self.context[self.end : self.end + _SNIPPET // 2]
        return {
            "text": self.text,
            "source": self.source,
            "id": self.passage_id,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
            "kind": self.kind,
            "check": None if self.check is None else round(self.check, 4),
            "highlight": f"{'…' if self.start > len(before) else ''}{before}**{self.text}**{after}"
            f"{'…' if self.end + len(after) < len(self.context) else ''}",
        }


@dataclass
class Answer:
    question: str
    standalone_question: str
    answer: str
    sources: list[Source]  # every passage the model saw
    model: str
    refused: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
    usage: dict[str, int] = field(default_factory=dict)
    short_answer: ShortAnswer | None = None  # the reader's span, when a reader is configured
    grounded: ShortAnswer | None = None  # a short generated answer snapped to a span of a cited passage

    @property
    def cited(self) -> list[Source]:
        return [s for s in self.sources if s.cited]

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "sources": [s.to_dict() for s in self.cited],
            "retrieved": [s.to_dict() for s in self.sources],
            "model": self.model,
            "timings": self.timings,
            "usage": self.usage,
            "question": self.question,
            "standalone_question": self.standalone_question,
            "refused": self.refused,
            **self.short_answers(),
        }

    def short_answers(self) -> dict[str, Any]:
        """The reader's short answer and the snapped span, each with its highlighted passage, or None."""
        return {
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
            "grounded_answer": self.grounded.to_dict() if self.grounded else None,
        }


class GenerationFailed(RagError):
    """The model failed (after its retries) once the passages were retrieved; they are kept in `sources`."""

    def __init__(
        self, message: str, question: str, sources: list[Source], short_answer: ShortAnswer | None = None
    ) -> None:
        super().__init__(message)
        self.question = question
        self.sources = sources
        self.short_answer = short_answer
        self.cited: list[Source] = []

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": "",
            "error": str(self),
            "sources": [],
            "retrieved": [s.to_dict() for s in self.sources],
            "question": self.question,
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
        }


class AnswerStream:
    """Iterate for the answer's text pieces; `answer` holds the whole `Answer` once it is exhausted."""

    def __init__(self, run: Generator[str, None, Answer]) -> None:
        self._run = run
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        self.answer = yield from self._run

    def finish(self) -> Answer:
        """Consume what is left of the stream and return the answer (also after iterating it fully)."""
        if self.answer is None:
            for _ in self:
                pass
        assert self.answer is not None
        return self.answer


class AsyncAnswerStream:
    """The async form of `AnswerStream`: `async for piece in stream`, then `stream.answer`."""

    def __init__(self, stream: AnswerStream) -> None:
        self._stream = stream

    @property
    def answer(self) -> Answer | None:
        return self._stream.answer

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def produce() -> None:  # the model runs in a worker thread; the event loop stays free
            try:
                for piece in self._stream:
                    loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
                loop.call_soon_threadsafe(queue.put_nowait, ("done", None))
            except BaseException as exc:  # handed to the consumer below
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        worker = loop.run_in_executor(None, produce)
        while True:
            kind, value = await queue.get()
            if kind == "piece":
                yield value
            elif kind == "done":
                break
            else:
                raise value
        await worker
