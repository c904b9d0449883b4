"""Orchestration: configuration, ingestion of documents into collections, and the `rag` CLI."""

from .config import Settings
from .ingest import IngestReport, ingest
from .retrieval import open_collection, open_retriever, resolve_collection

__all__ = ["IngestReport", "Settings", "ingest", "open_collection", "open_retriever", "resolve_collection"]
