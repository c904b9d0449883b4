"""Orchestration: configuration, ingestion of documents into collections, and the `rag` CLI.

Exports are loaded on first use so that `rag --help` does not pay for the heavy libraries.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Settings": "config",
    "IngestReport": "documents",
    "ingest": "documents",
    "open_collection": "retrieval",
    "open_retriever": "retrieval",
    "resolve_collection": "retrieval",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
