"""Answer engines per collection and retrieval settings, built on first use and shared by the API and the UI.

What a client picks is bounded before it becomes a cache key: generation settings (`max_tokens`,
`temperature`) are applied per request to a shared engine, never cached; `max_tokens` is clamped to
the server's; the LLM must be one the operator allowed (`RAG_ALLOWED_MODELS`); the cache keeps the
`RAG_ENGINE_CACHE` most recently used engines. Engines are built outside the cache's lock, so a
slow build (loading models) does not stall requests for engines already loaded.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any, Callable

from rag.answer import Engine
from rag.assembly import build_engine
from rag.config import Settings
from rag.retrieval import resolve_collection
from retrievers.errors import RagError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "rag"
GENERATION = ("max_tokens", "temperature")
MAX_CONTEXT_K = 20


class ModelNotAllowed(RagError):
    """A request chose an LLM the server's operator did not allow."""


class Engines:
    """The loaded answer engines, least recently used first; see the module docstring for the bounds."""

    def __init__(self, settings: Settings, factory: Callable[[Settings, str], Engine] = build_engine) -> None:
        self.settings = settings
        self.factory = factory
        self._engines: OrderedDict[tuple, Engine] = OrderedDict()
        self._building: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    def collection_for(self, model: str) -> str:
        """The collection a request's `model` names; `rag` (or empty) is the configured default."""
        if model in ("", DEFAULT_MODEL_ID):
            return resolve_collection(self.settings)
        return resolve_collection(self.settings, model.removeprefix(f"{DEFAULT_MODEL_ID}/"))

    def forget(self, collection: str) -> None:
        """Drop the engines of a collection (after an ingest, so new ones see the new passages)."""
        with self._lock:
            for key in [k for k in self._engines if k[0] == collection]:
                del self._engines[key]

    def __len__(self) -> int:
        return len(self._engines)

    def _checked(self, options: dict[str, Any]) -> dict[str, Any]:
        """The retrieval and model options, bounded: an allowed LLM only, `context_k` within reason."""
        if "model" in options:
            choices = self.settings.llm_choices()
            if options["model"] not in choices:
                raise ModelNotAllowed(
                    f"model {options['model']!r} is not allowed here; choose one of "
                    f"{', '.join(choices)} (the operator sets RAG_ALLOWED_MODELS)"
                )
            if options["model"] == (self.settings.model or choices[0]):
                options = {k: v for k, v in options.items() if k != "model"}
        if "context_k" in options:
            options["context_k"] = max(1, min(int(options["context_k"]), MAX_CONTEXT_K))
        return options

    def get(self, model: str, /, **options: Any) -> Engine:
        """The engine for a collection; retrieval options (mode, fusion, context_k, model) pick a cached engine,
        generation options (max_tokens, temperature) apply to this request only."""
        name = self.collection_for(model)
        generation = {k: options.pop(k) for k in GENERATION if options.get(k) is not None}
        options = self._checked({k: v for k, v in options.items() if v is not None})
        if "max_tokens" in generation:
            generation["max_tokens"] = max(1, min(int(generation["max_tokens"]), self.settings.max_tokens))
        key = (name, tuple(sorted(options.items())))
        engine = self._cached(key)
        if engine is None:
            with self._lock:
                building = self._building.setdefault(key, threading.Lock())
            with building:  # one build per key; other keys' requests go on meanwhile
                engine = self._cached(key)
                if engine is None:
                    engine = self.factory(self.settings.model_copy(update=options), name)
                    with self._lock:
                        self._engines[key] = engine
                        self._building.pop(key, None)
                        while len(self._engines) > self.settings.engine_cache:
                            dropped, _ = self._engines.popitem(last=False)
                            logger.info("engine cache full: dropped %s", dropped)
        return engine.with_options(**generation) if generation else engine

    def _cached(self, key: tuple) -> Engine | None:
        with self._lock:
            engine = self._engines.get(key)
            if engine is not None:
                self._engines.move_to_end(key)
            return engine
