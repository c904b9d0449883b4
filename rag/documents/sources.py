"""A collection's sources (files, records, corpora): listed with their passage counts, and deleted one at a time.

Deleting a source removes its passages from the table, the dense store and the BM25 index in one
update, as a file that disappeared would be pruned; an uploaded file's copy under
`STORE/uploads/COLLECTION/` goes with it. Nothing outside the store is ever deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rag.config import Settings
from rag.retrieval import resolve_collection
from retrievers.errors import RagError
from retrievers.stores import Collection, SourceUpdate

from .compaction import compaction_advice

logger = logging.getLogger(__name__)


class SourceNotFound(RagError):
    """The collection holds no source of that name."""


@dataclass(frozen=True)
class SourceInfo:
    source: str
    passages: int
    ingested: float | None = None  # when it was last ingested, seconds since the epoch

    def to_dict(self) -> dict:
        when = None
        if self.ingested is not None:
            when = datetime.fromtimestamp(self.ingested, timezone.utc).isoformat(timespec="seconds")
        return {"source": self.source, "passages": self.passages, "ingested": when}


def _open(settings: Settings, name: str) -> Collection:
    """The collection itself (not a re-encoded copy, and an empty one too)."""
    return Collection(name, settings.store, chroma_url=settings.chroma_url)


def list_sources(settings: Settings, collection: str | None = None) -> list[SourceInfo]:
    """Every source of the collection, in name order, with its passage count and when it was ingested."""
    coll = _open(settings, resolve_collection(settings, collection))
    try:
        counts = coll.passage_counts()
        return [SourceInfo(s, counts.get(s, 0), when) for s, when in sorted(coll.ingested_at().items())]
    finally:
        coll.close()


@dataclass(frozen=True)
class Deletion:
    removed: int  # passages
    advice: str | None = None  # `rag compact`, once enough of the collection was deleted (`compaction_advice`)


def delete_source(settings: Settings, collection: str, source: str) -> Deletion:
    """Remove one source's passages (and its uploaded copy): how many passages went, and whether the collection
    is now worth compacting."""
    name = resolve_collection(settings, collection)
    coll = _open(settings, name)
    try:
        known = coll.signatures()
        if source not in known:
            uploaded = str(settings.store / "uploads" / name / source)  # an upload may be named by its file name
            if uploaded not in known:
                shown = repr(source) if len(source) <= 200 else f"{source[:200]!r}... ({len(source):,} characters)"
                raise SourceNotFound(
                    f"collection {name!r} has no source {shown}; `rag sources {name}` "
                    "(or GET /v1/collections/NAME/sources) lists them"
                )
            source = uploaded
        stats = coll.update([SourceUpdate(source, None, None)])
        advice = compaction_advice(coll)
    finally:
        coll.close()
    uploads = (settings.store / "uploads" / name).resolve()
    path = Path(source)
    if path.is_absolute() and path.resolve().parent == uploads and path.is_file():
        path.unlink()
        logger.info("deleted the uploaded copy %s", path)
    return Deletion(stats.removed, advice)
