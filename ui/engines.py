"""Answer engines per collection and settings, built on first use and shared by the API and the UI."""

from __future__ import annotations

import threading
from typing import Any, Callable

from rag.app import build_engine
from rag.config import Settings
from rag.engine import Engine
from rag.retrieval import resolve_collection

DEFAULT_MODEL_ID = "rag"


class Engines:
    """One answer engine per collection, built on first use (loading a model takes seconds)."""

    def __init__(self, settings: Settings, factory: Callable[[Settings, str], Engine] = build_engine) -> None:
        self.settings = settings
        self.factory = factory
        self._engines: dict[tuple, Engine] = {}
        self._lock = threading.Lock()

    def collection_for(self, model: str) -> str:
        """The collection a request's `model` names; `rag` (or empty) is the configured default."""
        if model in ("", DEFAULT_MODEL_ID):
            return resolve_collection(self.settings)
        return model.removeprefix(f"{DEFAULT_MODEL_ID}/")

    def forget(self, collection: str) -> None:
        """Drop the engines of a collection (after an ingest, so new ones see the new passages)."""
        with self._lock:
            self._engines = {k: v for k, v in self._engines.items() if k[0] != collection}

    def get(self, model: str, **options: Any) -> Engine:
        """The engine for a collection; `options` (max_tokens, temperature) override the settings."""
        name = self.collection_for(model)
        key = (name, tuple(sorted(options.items())))
        with self._lock:
            if key not in self._engines:
                self._engines[key] = self.factory(self.settings.model_copy(update=options), name)
            return self._engines[key]
