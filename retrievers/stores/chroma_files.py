"""The files of an embedded Chroma store that Chroma itself leaves behind: the vector-index folders of
dropped collections, and the free pages and full-text tombstones of its SQLite file.

Chroma 1.x removes a dropped collection's rows but not its `{store}/{segment id}/` folder of HNSW files
(chroma-core/chroma#5520), so a store that drops collections (compaction, deleting a collection) grows
without bound unless the folders are swept.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

logger = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SQLITE = "chroma.sqlite3"
_FTS = "embedding_fulltext_search"  # Chroma's full-text index of documents


def folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder` (links not followed)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def orphan_segments(path: str | Path) -> list[Path]:
    """The segment folders of `path` that no collection in its SQLite file owns.

    Chroma writes a segment's row when the collection is created, before any of its files, so a folder without
    a row belongs to a dropped collection. Only direct children named as a UUID are considered."""
    root = Path(path)
    db_file = root / _SQLITE
    if not db_file.is_file():
        return []
    with closing(sqlite3.connect(f"{db_file.as_uri()}?mode=ro", uri=True, timeout=30)) as db:
        live = {str(row[0]) for row in db.execute("SELECT id FROM segments")}
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and _SEGMENT.match(p.name) and p.name not in live
    )


def sweep_orphan_segments(path: str | Path) -> int:
    """Remove the dropped collections' segment folders (`orphan_segments`); returns the bytes freed.

    Call it under the store's write lock, after the drop: a folder that cannot be removed is logged and kept."""
    freed = 0
    for folder in orphan_segments(path):
        size = folder_bytes(folder)
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            logger.warning("could not remove the dropped Chroma segment %s: %s", folder, exc)
            continue
        freed += size
    if freed:
        logger.info("removed %.1f MB of dropped Chroma segments from %s", freed / 2**20, path)
    return freed


def vacuum(path: str | Path) -> bool:
    """Give the SQLite file's free pages back to the file system; False (logged) when another writer holds it,
    in which case later writes reuse the pages instead.

    Chroma indexes every document in an FTS5 trigram table shared by all collections, and FTS5 deletes by
    appending tombstones, so a dropped collection's index stays in the file until the table is merged
    ('optimize'): without it a compaction leaves the file larger than before (42 -> 54 MB for 10k passages)."""
    try:
        with closing(sqlite3.connect(Path(path) / _SQLITE, timeout=30)) as db:
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (_FTS,)).fetchone():
                with db:
                    db.execute(f"INSERT INTO {_FTS}({_FTS}) VALUES('optimize')")
            db.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        logger.warning("Chroma's SQLite file in %s not vacuumed: %s", path, exc)
        return False
    return True
