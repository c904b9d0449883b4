"""Documents in (`rag ingest`, uploads): files, folders and corpora read into passages, encoded and written
to a collection.

    pipeline.py    `ingest` (incremental, in bounded batches), `IngestReport`
    reindexing.py  `reindex`: a collection copied with another encoder
    loaders.py     inputs found and read: files by type (`rag.formats`), folders, the built-in corpora
    encoding.py    `rag encode`: one shard of the passage vectors, encoded ahead for a later ingest
    sources.py     a collection's sources listed, one deleted
    compaction.py  `compact`: what deletions left behind given back, and when to advise it
"""

from .compaction import Compaction, compact, compaction_advice
from .pipeline import IngestReport, ingest
from .reindexing import reindex
from .sources import Deletion, SourceNotFound, delete_source, list_sources

__all__ = [
    "Compaction", "Deletion", "IngestReport", "SourceNotFound", "compact", "compaction_advice", "delete_source",
    "ingest", "list_sources", "reindex",
]  # fmt: skip
