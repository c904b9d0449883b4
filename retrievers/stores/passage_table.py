"""A collection's passage table (`passages.sqlite`): the record of what is indexed.

It holds the passages (with a digest of what was encoded), the sources with the signature they were
last ingested at, the pending list of an update in progress (the write-ahead manifest), and a few
facts in `state`: the encoder that made the vectors, the pending update's encoder, and the
generation, bumped by every change. One connection is shared by the threads of a process under a
lock; writes happen inside `transaction()`, where the methods marked "in a transaction" are called.
An update is given as `SourceUpdate`s, and `diff` says what they change against the table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from ..passages import Passage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passages(
    id TEXT PRIMARY KEY, source TEXT NOT NULL, position INTEGER NOT NULL, title TEXT NOT NULL,
    text TEXT NOT NULL, extra TEXT NOT NULL, digest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passages_source ON passages(source);
CREATE TABLE IF NOT EXISTS sources(source TEXT PRIMARY KEY, signature TEXT, updated REAL);
CREATE TABLE IF NOT EXISTS pending(id TEXT PRIMARY KEY, source TEXT NOT NULL, op TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass
class SourceUpdate:
    """The new passages of one source; `passages=None` removes the source."""

    source: str
    signature: str | None
    passages: list[Passage] | None


@dataclass
class UpdateStats:
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    replaced: int = 0  # of the added, passages that took the place of a changed one with the same id
    sources: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # source -> (added, unchanged, removed)
    # seconds spent per step of the update: "encode", "store" (Chroma writes), "table" (SQLite), "bm25"
    timings: dict[str, float] = field(default_factory=dict)


class PassageTable:
    """The SQLite passage table at `path`, created if missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    # -- reading -----------------------------------------------------------------------------

    def recorded(self, key: str) -> str | None:
        """A fact of `state` ("model", "dimension", "pending_encoder"), or None."""
        with self.lock:
            row = self._db.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def deleted_since_compaction(self) -> int:
        """Vectors removed or replaced since the collection was built or last compacted: the slots that Chroma's
        index and SQLite file keep until `rag compact`."""
        return int(self.recorded("deleted_since_compaction") or 0)

    def count(self) -> int:
        with self.lock:
            return int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    def generation(self) -> int:
        with self.lock:
            row = self._db.execute("SELECT value FROM state WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def get(self, ids: Sequence[str]) -> dict[str, Passage]:
        """Passages by id (ids not in the table are left out)."""
        out: dict[str, Passage] = {}
        with self.lock:
            for start in range(0, len(ids), 900):
                chunk = list(ids[start : start + 900])
                marks = ",".join("?" * len(chunk))
                for row in self._db.execute(
                    f"SELECT id, text, title, source, position, extra FROM passages WHERE id IN ({marks})", chunk
                ):
                    out[row[0]] = Passage(
                        id=row[0], text=row[1], title=row[2], source=row[3], position=row[4], extra=json.loads(row[5])
                    )
        return out

    def metadata(self) -> Iterator[tuple[str, str, str, int, dict]]:
        """Every passage's `(id, source, title, position, extra)`, in insertion order (what filters test)."""
        with self.lock:
            rows = self._db.execute("SELECT id, source, title, position, extra FROM passages ORDER BY rowid").fetchall()
        for pid, source, title, position, extra in rows:
            yield pid, source, title, position, json.loads(extra)

    def ids(self) -> list[str]:
        """Every passage id, in insertion order."""
        with self.lock:
            return [row[0] for row in self._db.execute("SELECT id FROM passages ORDER BY rowid")]

    def passages(self) -> Iterator[Passage]:
        """Every passage, in insertion order."""
        with self.lock:
            rows = self._db.execute(
                "SELECT id, text, title, source, position, extra FROM passages ORDER BY rowid"
            ).fetchall()
        for row in rows:
            yield Passage(
                id=row[0], text=row[1], title=row[2], source=row[3], position=row[4], extra=json.loads(row[5])
            )

    def signatures(self) -> dict[str, str | None]:
        """Each source with the signature (content hash) it was last ingested at."""
        with self.lock:
            return dict(self._db.execute("SELECT source, signature FROM sources").fetchall())

    def ingested_at(self) -> dict[str, float | None]:
        """Each source with when it was last ingested (seconds since the epoch)."""
        with self.lock:
            return dict(self._db.execute("SELECT source, updated FROM sources").fetchall())

    def passage_counts(self) -> dict[str, int]:
        """Number of passages per source."""
        with self.lock:
            return dict(self._db.execute("SELECT source, COUNT(*) FROM passages GROUP BY source").fetchall())

    def _stored(self, source: str) -> dict[str, tuple[str, int, str]]:
        """The ids of one source's passages with the digest of what was encoded, the position and the metadata."""
        with self.lock:
            rows = self._db.execute(
                "SELECT id, digest, position, extra FROM passages WHERE source=?", (source,)
            ).fetchall()
        return {pid: (digest, position, extra) for pid, digest, position, extra in rows}

    def pending(self) -> list[tuple[str, str, str]]:
        """The manifest of an update that did not finish: (id, source, "add" or "remove")."""
        with self.lock:
            return self._db.execute("SELECT id, source, op FROM pending").fetchall()

    def diff(
        self, updates: Sequence[SourceUpdate]
    ) -> tuple[UpdateStats, list[Passage], list[tuple[str, str]], list[Passage]]:
        """What `updates` change: the passages to add (new, or changed since they were encoded), the (id, source)
        pairs to remove, the passages to relabel (the same text, with another position or metadata: not encoded
        again), and the counts. A passage id given twice counts once, where it is first given."""
        stats = UpdateStats()
        to_add: list[Passage] = []
        to_remove: list[tuple[str, str]] = []
        relabel: list[Passage] = []
        seen: set[str] = set()
        for update in updates:
            old = self._stored(update.source)
            new = {} if update.passages is None else {p.id: p for p in update.passages if p.id not in seen}
            seen.update(new)
            added = [p for pid, p in new.items() if pid not in old or old[pid][0] != p.digest]
            relabel.extend(
                p
                for pid, p in new.items()
                if pid in old and old[pid][0] == p.digest and old[pid][1:] != (p.position, _extra(p))
            )
            removed = [pid for pid in old if pid not in new]
            unchanged = len(new) - len(added)
            to_add.extend(added)
            to_remove.extend((pid, update.source) for pid in removed)
            stats.added += len(added)
            stats.removed += len(removed)
            stats.replaced += sum(1 for p in added if p.id in old)
            stats.unchanged += unchanged
            stats.sources[update.source] = (len(added), unchanged, len(removed))
        return stats, to_add, to_remove, relabel

    @contextmanager
    def snapshot(self) -> Iterator[tuple[int, Iterator[tuple[str, str]]]]:
        """The generation and every passage's (id, indexed text), in insertion order, from one snapshot.

        The rows are read through a connection of their own and streamed (never held as a list), without
        holding the shared connection's lock, so other threads keep reading meanwhile.
        """
        reader = sqlite3.connect(self.path, isolation_level=None)
        try:
            reader.execute("PRAGMA busy_timeout=30000")
            reader.execute("BEGIN")  # the generation and the rows from one snapshot
            row = reader.execute("SELECT value FROM state WHERE key='generation'").fetchone()
            generation = int(row[0]) if row else 0
            rows = (
                (pid, Passage(id=pid, title=title, text=text).indexed_text)
                for pid, title, text in reader.execute("SELECT id, title, text FROM passages ORDER BY rowid")
            )
            yield generation, rows
            reader.execute("COMMIT")
        finally:
            reader.close()

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, holding the lock: every change in the block, or none."""
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def write_pending(self, to_add: Sequence[Passage], to_remove: Sequence[tuple[str, str]], encoder: dict) -> None:
        """The write-ahead manifest, with the encoder (`{"model", "dimension"}`), so that a recovery can record
        it with the rows it adds."""
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO state(key, value) VALUES ('pending_encoder', ?)", (json.dumps(encoder),)
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO pending(id, source, op) VALUES (?,?,'remove')", list(to_remove)
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO pending(id, source, op) VALUES (?,?,'add')", [(p.id, p.source) for p in to_add]
            )

    def empty(self) -> bool:
        return self._db.execute("SELECT 1 FROM passages LIMIT 1").fetchone() is None

    def replace(self, remove: Sequence[str], add: Sequence[Passage]) -> None:
        """In a transaction: delete the rows of ids `remove`, then write the passages `add`."""
        self._db.executemany("DELETE FROM passages WHERE id=?", [(pid,) for pid in remove])
        self._db.executemany(
            "INSERT OR REPLACE INTO passages(id, source, position, title, text, extra, digest) VALUES (?,?,?,?,?,?,?)",
            [_row(p) for p in add],
        )

    def relabel(self, passages: Sequence[Passage]) -> None:
        """In a transaction: the passages' positions and metadata as given (their text is unchanged)."""
        self._db.executemany(
            "UPDATE passages SET position=?, extra=? WHERE id=?", [(p.position, _extra(p), p.id) for p in passages]
        )

    def record_encoder(self, name: str, dimension: int | None, *, replace: bool) -> None:
        """In the transaction that writes rows: record the encoder of their vectors, unless one is
        recorded already and `replace` is False (the table held rows before)."""
        self._db.executemany(
            f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO state(key, value) VALUES (?, ?)",
            [("model", name), ("dimension", json.dumps(dimension))],
        )

    def sign(self, source: str, signature: str | None, when: float) -> None:
        """In a transaction: `source` was ingested at `signature`."""
        self._db.execute(
            "INSERT OR REPLACE INTO sources(source, signature, updated) VALUES (?,?,?)", (source, signature, when)
        )

    def drop_source(self, source: str) -> None:
        """In a transaction: forget a removed source."""
        self._db.execute("DELETE FROM sources WHERE source=?", (source,))

    def unsign(self, sources: Sequence[str], when: float) -> None:
        """In a transaction: the sources lose their signature, so the next ingest checks them again."""
        self._db.executemany(
            "INSERT INTO sources(source, signature, updated) VALUES (?, NULL, ?) "
            "ON CONFLICT(source) DO UPDATE SET signature=NULL",
            [(source, when) for source in sources],
        )

    def clear_pending(self) -> None:
        """In a transaction: the manifest's work is done."""
        self._db.execute("DELETE FROM pending")
        self._db.execute("DELETE FROM state WHERE key='pending_encoder'")

    def bump_generation(self) -> None:
        """In a transaction: the table changed."""
        self._db.execute(
            "INSERT INTO state(key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def count_deleted(self, n: int) -> None:
        """In a transaction: `n` more vectors deleted or replaced (`deleted_since_compaction`)."""
        self._db.execute(
            "INSERT INTO state(key, value) VALUES ('deleted_since_compaction', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
            (str(n), n),
        )

    def compacted(self) -> None:
        """In a transaction: the collection was rebuilt, so no deleted vector is left in it."""
        self._db.execute("DELETE FROM state WHERE key='deleted_since_compaction'")

    def vacuum(self) -> None:
        """Give the pages of deleted rows back to the file system (outside any transaction)."""
        with self.lock:
            self._db.execute("VACUUM")

    def close(self) -> None:
        with self.lock:
            self._db.close()


def _extra(p: Passage) -> str:
    return json.dumps(dict(p.extra), ensure_ascii=False)


def _row(p: Passage) -> tuple:
    return (p.id, p.source, p.position, p.title, p.text, _extra(p), p.digest)
