"""Tracing to Langfuse: one trace per question, with spans for condense, retrieval (each retriever
and the fusion), prompt and generation.

Without keys this is `NULL_TRACER`: langfuse is not even imported, so there are no warnings, no
network and no cost. A broken or unreachable Langfuse never affects answers: export happens in the
background and its failures are dropped.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator

from retrievers.tracing import NULL_TRACER, Span, Tracer

logger = logging.getLogger(__name__)


class LangfuseTracer:
    """A `Tracer` over the Langfuse SDK (OpenTelemetry underneath).

    `span_exporter` / `tracer_provider` are passed to Langfuse as they are: tests capture spans
    in memory with them.
    """

    def __init__(
        self,
        public_key: str,
        secret_key: str,
        host: str | None = None,
        *,
        span_exporter: Any = None,
        tracer_provider: Any = None,
    ) -> None:
        from langfuse import Langfuse

        logging.getLogger("langfuse").setLevel(logging.ERROR)  # an unreachable server is not the user's problem
        self.client = Langfuse(
            public_key=public_key,
            secret_key=secret_key,
            base_url=host,
            span_exporter=span_exporter,
            tracer_provider=tracer_provider,
        )

    @contextmanager
    def span(self, name: str, *, input: Any = None, as_type: str = "span", **fields: Any) -> Iterator[Span]:
        with self.client.start_as_current_observation(name=name, as_type=as_type, input=input, **fields) as obs:
            yield obs

    def flush(self) -> None:
        try:
            self.client.flush()
        except Exception as exc:  # an unreachable Langfuse must not fail the answer it traced
            logger.debug("langfuse flush failed: %s", exc)


def make_tracer(public_key: str | None, secret_key: str | None, host: str | None) -> Tracer:
    """Langfuse when both keys are set, else the silent no-op tracer."""
    if public_key and secret_key:
        return LangfuseTracer(public_key, secret_key, host)
    return NULL_TRACER
