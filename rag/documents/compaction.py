"""Compaction (`rag compact`, `POST /v1/collections/NAME/compact`): a collection rebuilt so that what
deletions left in Chroma's index and SQLite file is given back, and the advice to run it once enough was
deleted or replaced (docs/filters.md)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from rag.config import Settings
from rag.retrieval import resolve_collection
from retrievers.stores import Collection, folder_bytes

# Advise compaction once this share of a collection was deleted or replaced since it was built or last
# compacted: 30% churn left a 10k store at 1.21x its fresh size (docs/experiments/churn/results.md).
COMPACT_AT = 0.3


@dataclass(frozen=True)
class Compaction:
    collection: str
    deleted_share: float  # of the collection, deleted or replaced since the last compaction, before this one
    store_mb_before: float
    store_mb_after: float
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def store_mb(settings: Settings) -> float:
    """The store directory's size in MB."""
    return round(folder_bytes(settings.store) / 2**20, 1)


def compact(settings: Settings, collection: str | None = None) -> Compaction:
    """Rebuild the collection's vectors from themselves and vacuum its files (`Collection.compact`)."""
    name = resolve_collection(settings, collection)
    coll = Collection(name, settings.store, chroma_url=settings.chroma_url)
    try:
        share, before, started = coll.deleted_share(), store_mb(settings), time.perf_counter()
        coll.compact()
    finally:
        coll.close()
    return Compaction(name, round(share, 3), before, store_mb(settings), round(time.perf_counter() - started, 1))


def compaction_advice(coll: Collection) -> str | None:
    """A line advising compaction when deletions have left enough behind in the collection, else None (always
    for vectors on a Chroma server, which compacts its own)."""
    share = coll.deleted_share()
    if share < COMPACT_AT or coll.chroma_url is not None:
        return None
    return (
        f"{share:.0%} of collection {coll.name!r} was deleted or replaced since it was last compacted: "
        f"`rag compact {coll.name}` (POST /v1/collections/{coll.name}/compact on a running server) "
        "gives their space back"
    )
