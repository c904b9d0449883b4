"""STORE/access.sqlite3: one connection shared by threads under a lock, created 0600 with the keys and audit
tables; `AccessError`, the one error kind of access control."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from retrievers.errors import RagError

FILENAME = "access.sqlite3"


class AccessError(RagError, ValueError):
    """A bad key, scope, collection or audit entry given by the user; shown as one line."""


def iso_utc(ts: Optional[float]) -> Optional[str]:
    """A Unix time as ISO 8601 in UTC to the second (`2024-05-01T12:00:00Z`); None stays None."""
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Database:
    """One connection to STORE/access.sqlite3, shared by threads under a lock; created 0600 with its schema."""

    def __init__(self, store: Path | str):
        self.path = Path(store).expanduser() / FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                try:
                    os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask; SQLite gives -wal/-shm the same mode
                finally:
                    os.close(fd)
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        except OSError as exc:
            raise AccessError(f"cannot open the key store {self.path}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise AccessError(f"cannot open the key store {self.path}: {exc}") from None
        self.lock = threading.Lock()
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA busy_timeout=30000")
            with self.write() as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                    "scopes TEXT NOT NULL, collections TEXT NOT NULL, salt BLOB NOT NULL, "
                    "hash BLOB NOT NULL, created REAL NOT NULL, revoked REAL, last_used REAL)"
                )
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, "
                    "detail TEXT NOT NULL DEFAULT '')"
                )
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise AccessError(f"the key store {self.path} is not usable: {exc}") from None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (BEGIN IMMEDIATE) so concurrent writers queue on busy_timeout."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()
