"""Where a store keeps its collections::

STORE/chroma/                            embedded Chroma (unused when a Chroma server is given)
STORE/collections/NAME/meta.json         encoder model and creation time
STORE/collections/NAME/passages.sqlite   the passage table: the record of what is indexed, and of the encoder
                                         (written in the transaction of the first rows; meta.json mirrors it)
STORE/collections/NAME/bm25/             the BM25 index, versioned, switched atomically
"""

from __future__ import annotations

from pathlib import Path


def default_store_dir() -> Path:
    """Where collections live unless told otherwise (per user)."""
    return Path.home() / ".local" / "share" / "rag"


def list_collections(store_dir: str | Path) -> list[str]:
    """The names of the collections in a store (those with a meta.json), sorted."""
    root = Path(store_dir) / "collections"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").is_file())
