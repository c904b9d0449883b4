"""Documents in (`rag ingest`, uploads): files, folders and corpora read into passages, encoded and written
to a collection.

    pipeline.py    `ingest` (incremental, in bounded batches), `IngestReport`
    reindexing.py  `reindex`: a collection copied with another encoder
    loaders.py     inputs found and read: files by type (`rag.formats`), folders, the built-in corpora
    encoding.py    `rag encode`: one shard of the passage vectors, encoded ahead for a later ingest
    sources.py     a collection's sources listed, one deleted
"""

from .pipeline import IngestReport, ingest
from .reindexing import reindex
from .sources import SourceNotFound, delete_source, list_sources

__all__ = ["IngestReport", "SourceNotFound", "delete_source", "ingest", "list_sources", "reindex"]
