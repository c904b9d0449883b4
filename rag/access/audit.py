"""The audit log: who ingested, deleted or changed a key, and when, appended to STORE/access.sqlite3."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .database import AccessError, Database, iso_utc

AUDIT_ACTIONS = frozenset({"ingest", "delete", "compact", "key.add", "key.revoke"})
_MAX_ACTOR, _MAX_TARGET, _MAX_DETAIL = 200, 1000, 4000


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: who (actor), when (Unix seconds, UTC), what (action on target, with detail)."""

    id: int
    at: float
    actor: str
    action: str
    target: str
    detail: str = ""

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "at": iso_utc(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise AccessError(f"{what} must be text, not {type(value).__name__}")
    return value if len(value) <= limit else value[: limit - 1] + "…"


class AuditLog:
    """Who did what when: ingests, deletes and key changes, appended to STORE/access.sqlite3."""

    def __init__(self, store: Path | str, *, clock: Callable[[], float] = time.time):
        self._db = Database(store)
        self._clock = clock

    @classmethod
    def _on(cls, db: Database, clock: Callable[[], float]) -> "AuditLog":
        log = cls.__new__(cls)
        log._db, log._clock = db, clock
        return log

    def record(self, actor: str, action: str, target: str, detail: str = "") -> AuditEntry:
        """Append one entry, timestamped now (UTC); long texts are cut short, an unknown action is an AccessError."""
        with self._db.write() as conn:
            return self._insert(conn, actor, action, target, detail)

    def _insert(self, conn: sqlite3.Connection, actor: str, action: str, target: str, detail: str) -> AuditEntry:
        if action not in AUDIT_ACTIONS:
            raise AccessError(f"unknown audit action {action!r}: choose from {', '.join(sorted(AUDIT_ACTIONS))}")
        actor = _text(actor, "the actor", _MAX_ACTOR).strip()
        if not actor:
            raise AccessError("the actor of an audit entry is empty: say who did it")
        target, detail = _text(target, "the target", _MAX_TARGET), _text(detail, "the detail", _MAX_DETAIL)
        at = float(self._clock())
        cur = conn.execute(
            "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            (at, actor, action, target, detail),
        )
        return AuditEntry(cur.lastrowid, at, actor, action, target, detail)

    def entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest `limit` entries, newest first."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise AccessError(f"the audit limit must be a whole number of 1 or more, not {limit!r}")
        rows = self._db.read(
            "SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [AuditEntry(*row) for row in rows]

    def close(self) -> None:
        self._db.close()
