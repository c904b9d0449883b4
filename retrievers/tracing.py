"""A minimal tracing interface so retrieval steps can be traced without this package knowing by what.

The engine passes a real tracer (Langfuse); everything else gets `NULL_TRACER`, which costs nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, ContextManager, Iterator, Protocol


class Span(Protocol):
    def update(self, **fields: Any) -> None: ...


class Tracer(Protocol):
    def span(self, name: str, *, input: Any = None, **fields: Any) -> ContextManager[Span]: ...


class _NullSpan:
    def update(self, **fields: Any) -> None:
        pass


class NullTracer:
    """Traces nothing."""

    _span = _NullSpan()

    @contextmanager
    def span(self, name: str, *, input: Any = None, **fields: Any) -> Iterator[Span]:
        yield self._span


NULL_TRACER = NullTracer()


def run_summary(run: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """A retrieval run as span output: passage ids with scores."""
    return [{"id": pid, "score": round(float(score), 6)} for pid, score in run]


def record_run(tracer: Tracer, span: Span, run: list[tuple[str, float]]) -> None:
    """A retrieval run as `span`'s output, unless nothing traces: the summary costs more than fusing the runs."""
    if tracer is not NULL_TRACER:
        span.update(output=run_summary(run))
