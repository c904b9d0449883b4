"""Access control: API keys per user with scopes and collection limits, an audit log, and throttling of failed logins.

Keys and the audit log live in STORE/access.sqlite3 (WAL, mode 0600). Only a salted hash of each key's secret is
kept; the full token (`rag_<8 hex>_<secret>`) is shown once, when the key is added.

    keys = KeyStore(settings.store)
    key_id, token = keys.add("alice", ["read", "ingest"], ["papers"])
    info = keys.verify(token)                      # None for unknown, malformed or revoked tokens
    keys.allows(info, "ingest", "papers")          # True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from retrievers.errors import RagError
from retrievers.stores import validate_collection_name

FILENAME = "access.sqlite3"
SCOPES = ("read", "ingest", "admin")  # admin implies the others
AUDIT_ACTIONS = frozenset({"ingest", "delete", "key.add", "key.revoke"})
ALL_COLLECTIONS = "*"
KEY_PREFIX = "rag_"

_ID_HEX = 8  # key ids are KEY_PREFIX + 8 hex digits: public, short, unique per store
_ID_LENGTH = len(KEY_PREFIX) + _ID_HEX
_MAX_TOKEN = 200  # longer tokens are refused before hashing
_MAX_NAME = 100
_MAX_ACTOR, _MAX_TARGET, _MAX_DETAIL = 200, 1000, 4000
_DUMMY_SALT = b"\0" * 16  # hashed against when the key id is unknown, so both paths cost the same
_DUMMY_HASH = b"\0" * 32

Collections = Union[str, tuple[str, ...]]


class AccessError(RagError, ValueError):
    """A bad key, scope, collection or audit entry given by the user; shown as one line."""


def iso_utc(ts: Optional[float]) -> Optional[str]:
    """A Unix time as ISO 8601 in UTC to the second (`2024-05-01T12:00:00Z`); None stays None."""
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass(frozen=True)
class KeyInfo:
    """What is known about a key, never its secret or hash; times are Unix seconds (UTC)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    collections: Collections  # "*" or a tuple of collection names
    created: float
    revoked: Optional[float] = None
    last_used: Optional[float] = None

    def allows(self, scope: str, collection: Optional[str] = None) -> bool:
        """Whether this key may do `scope` on `collection`; None means a store-wide action, which needs '*'."""
        if scope not in SCOPES:
            raise AccessError(f"unknown scope {scope!r}: choose from {', '.join(SCOPES)}")
        if self.revoked is not None or not (scope in self.scopes or "admin" in self.scopes):
            return False
        if self.collections == ALL_COLLECTIONS:
            return True
        return collection is not None and collection in self.collections

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes),
                "collections": self.collections if self.collections == ALL_COLLECTIONS else list(self.collections),
                "created": iso_utc(self.created), "revoked": iso_utc(self.revoked),
                "last_used": iso_utc(self.last_used)}


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
        return {"id": self.id, "at": iso_utc(self.at), "actor": self.actor, "action": self.action,
                "target": self.target, "detail": self.detail}


class _Database:
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
                conn.execute("CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                             "scopes TEXT NOT NULL, collections TEXT NOT NULL, salt BLOB NOT NULL, "
                             "hash BLOB NOT NULL, created REAL NOT NULL, revoked REAL, last_used REAL)")
                conn.execute("CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, "
                             "detail TEXT NOT NULL DEFAULT '')")
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


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise AccessError(f"{what} must be text, not {type(value).__name__}")
    return value if len(value) <= limit else value[:limit - 1] + "…"


class AuditLog:
    """Who did what when: ingests, deletes and key changes, appended to STORE/access.sqlite3."""

    def __init__(self, store: Path | str, *, clock: Callable[[], float] = time.time):
        self._db = _Database(store)
        self._clock = clock

    @classmethod
    def _on(cls, db: _Database, clock: Callable[[], float]) -> "AuditLog":
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
        cur = conn.execute("INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                           (at, actor, action, target, detail))
        return AuditEntry(cur.lastrowid, at, actor, action, target, detail)

    def entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest `limit` entries, newest first."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise AccessError(f"the audit limit must be a whole number of 1 or more, not {limit!r}")
        rows = self._db.read("SELECT id, at, actor, action, target, detail FROM audit ORDER BY id DESC LIMIT ?",
                             (limit,))
        return [AuditEntry(*row) for row in rows]

    def close(self) -> None:
        self._db.close()


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


def _parse_token(token: object) -> Optional[tuple[str, str]]:
    """(key id, secret) of a well-formed token, else None."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN or len(token) <= _ID_LENGTH + 1:
        return None
    key_id, sep, secret = token[:_ID_LENGTH], token[_ID_LENGTH], token[_ID_LENGTH + 1:]
    if sep != "_" or not _valid_id(key_id):
        return None
    return key_id, secret


def _valid_id(key_id: object) -> bool:
    return (isinstance(key_id, str) and len(key_id) == _ID_LENGTH and key_id.startswith(KEY_PREFIX)
            and all(c in "0123456789abcdef" for c in key_id[len(KEY_PREFIX):]))


def _scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        scopes = [scopes]
    given = {s.strip().lower() for item in scopes for s in str(item).split(",") if s.strip()}
    unknown = sorted(given - set(SCOPES))
    if unknown:
        raise AccessError(f"unknown scope {', '.join(map(repr, unknown))}: choose from {', '.join(SCOPES)} "
                          "(admin implies the others)")
    if not given:
        raise AccessError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in given)


def _collections(collections: Union[str, Iterable[str], None]) -> Collections:
    if collections is None or collections == ALL_COLLECTIONS:
        return ALL_COLLECTIONS
    names = [collections] if isinstance(collections, str) else list(collections)
    if ALL_COLLECTIONS in names:
        if len(set(names)) > 1:
            raise AccessError("give either '*' (every collection) or collection names, not both")
        return ALL_COLLECTIONS
    if not names:
        raise AccessError("a key needs '*' (every collection) or at least one collection name")
    for name in names:
        try:
            validate_collection_name(name)
        except RagError as exc:
            raise AccessError(str(exc)) from None
    return tuple(sorted(set(names)))


class KeyStore:
    """API keys in STORE/access.sqlite3, each with scopes (read, ingest, admin) and the collections it may use.

    A secret is stored as sha256(salt + secret) with a random 16-byte salt per key. The secrets are 256-bit random
    values, not passwords, so guessing one is hopeless however fast the hash is; a slow KDF (scrypt, PBKDF2) would
    add nothing but milliseconds to every request, which verifies its key.
    """

    touch_interval = 60.0  # last_used is written at most this often per key (seconds), not on every request

    def __init__(self, store: Path | str, *, clock: Callable[[], float] = time.time):
        self._db = _Database(store)
        self._clock = clock
        self.path = self._db.path
        self.audit = AuditLog._on(self._db, clock)

    def add(self, name: str, scopes: Iterable[str], collections: Union[str, Iterable[str]] = ALL_COLLECTIONS, *,
            actor: str = "local") -> tuple[str, str]:
        """A new key: (its id, the full token). The token is not kept and cannot be shown again."""
        if not isinstance(name, str) or not name.strip():
            raise AccessError("the key's name is empty: say whose key it is, e.g. `rag keys add alice --scope read`")
        name = name.strip()
        if len(name) > _MAX_NAME or not name.isprintable():
            raise AccessError(f"the key's name must be 1-{_MAX_NAME} printable characters, not {name[:_MAX_NAME]!r}")
        scope_list, limits = _scopes(scopes), _collections(collections)
        stored_limits = limits if limits == ALL_COLLECTIONS else ",".join(limits)
        secret, salt = secrets.token_urlsafe(32), secrets.token_bytes(16)
        for _ in range(10):  # ids are 32 random bits: a clash is rare, and retried
            key_id = KEY_PREFIX + secrets.token_hex(_ID_HEX // 2)
            try:
                with self._db.write() as conn:
                    conn.execute("INSERT INTO keys (id, name, scopes, collections, salt, hash, created) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)", (key_id, name, ",".join(scope_list), stored_limits,
                                                                  salt, _digest(salt, secret), float(self._clock())))
                    self.audit._insert(conn, actor, "key.add", key_id,
                                       f"name={name} scopes={','.join(scope_list)} collections={stored_limits}")
            except sqlite3.IntegrityError:
                continue
            return key_id, f"{key_id}_{secret}"
        raise AccessError("could not find a free key id; try again")  # pragma: no cover (2**-320)

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key, oldest first, without secrets or hashes."""
        rows = self._db.read(f"SELECT {self._COLUMNS} FROM keys"
                             + ("" if include_revoked else " WHERE revoked IS NULL") + " ORDER BY created, id")
        return [self._info(row) for row in rows]

    def get(self, key_id: str) -> Optional[KeyInfo]:
        """The key with this id, or None."""
        rows = self._db.read(f"SELECT {self._COLUMNS} FROM keys WHERE id = ?", (key_id,)) if _valid_id(key_id) else []
        return self._info(rows[0]) if rows else None

    def revoke(self, key_id: str, *, actor: str = "local") -> KeyInfo:
        """Revoke a key at once (its token stops working); revoking a revoked key changes nothing."""
        if not _valid_id(key_id):
            raise AccessError(f"{key_id!r} is not a key id: they look like {KEY_PREFIX}0123abcd (see `rag keys list`)")
        with self._db.write() as conn:
            row = conn.execute(f"SELECT {self._COLUMNS} FROM keys WHERE id = ?", (key_id,)).fetchone()
            if row is None:
                raise AccessError(f"no key {key_id} in {self.path} (see `rag keys list`)")
            info = self._info(row)
            if info.revoked is not None:
                return info
            now = float(self._clock())
            conn.execute("UPDATE keys SET revoked = ? WHERE id = ?", (now, key_id))
            self.audit._insert(conn, actor, "key.revoke", key_id, f"name={info.name}")
        return self._info((*row[:5], now, row[6]))

    def verify(self, token: object) -> Optional[KeyInfo]:
        """The key a bearer token belongs to, or None when it is malformed, unknown, wrong or revoked."""
        parsed = _parse_token(token)
        if parsed is None:
            return None
        key_id, secret = parsed
        rows = self._db.read(f"SELECT {self._COLUMNS}, salt, hash FROM keys WHERE id = ?", (key_id,))
        salt, stored = (rows[0][7], rows[0][8]) if rows else (_DUMMY_SALT, _DUMMY_HASH)
        matches = hmac.compare_digest(_digest(salt, secret), stored)
        if not rows or not matches:
            return None
        info = self._info(rows[0][:7])
        if info.revoked is not None:
            return None
        now = float(self._clock())
        if info.last_used is None or now - info.last_used >= self.touch_interval:
            with self._db.write() as conn:
                conn.execute("UPDATE keys SET last_used = ? WHERE id = ?", (now, key_id))
            info = self._info((*rows[0][:6], now))
        return info

    @staticmethod
    def allows(info: Optional[KeyInfo], scope: str, collection: Optional[str] = None) -> bool:
        """Whether the key may do `scope` (admin implies read and ingest) on `collection`.

        Pass the collection the request resolves to; None means a store-wide action, allowed only to '*' keys.
        """
        return info is not None and info.allows(scope, collection)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "KeyStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    _COLUMNS = "id, name, scopes, collections, created, revoked, last_used"

    @staticmethod
    def _info(row: tuple) -> KeyInfo:
        key_id, name, scopes, collections, created, revoked, last_used = row
        limits = ALL_COLLECTIONS if collections == ALL_COLLECTIONS else tuple(collections.split(","))
        return KeyInfo(key_id, name, tuple(scopes.split(",")), limits, created, revoked, last_used)


class Throttle:
    """Failed-authentication throttling per client address: `limit` failures within `window` seconds block it.

    `blocked(addr)` is then the seconds until the oldest of those failures leaves the window (a sliding window,
    so at most `limit` failures per window get through). At most `max_addresses` are tracked, the one whose last
    failure is oldest evicted first, so memory stays bounded under a flood from many addresses. Thread-safe.
    """

    def __init__(self, limit: int = 5, window: float = 60.0, *, max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        if limit < 1 or window <= 0 or max_addresses < 1:
            raise AccessError("the throttle needs limit >= 1, window > 0 and max_addresses >= 1")
        self.limit, self.window, self.max_addresses = int(limit), float(window), int(max_addresses)
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    def failure(self, addr: Optional[str]) -> float:
        """Count a failed authentication from `addr`; returns the seconds it is now blocked for (0.0 if not)."""
        key, now = addr or "", self._clock()
        with self._lock:
            times = self._failures.pop(key, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[key] = times
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
            return self._left(times, now)

    def blocked(self, addr: Optional[str]) -> float:
        """Seconds until `addr` may try again; 0.0 when it is not blocked."""
        key, now = addr or "", self._clock()
        with self._lock:
            times = self._failures.get(key)
            if times is None:
                return 0.0
            if times[-1] + self.window <= now:  # every failure has left the window: forget the address
                del self._failures[key]
                return 0.0
            return self._left(times, now)

    def reset(self, addr: Optional[str]) -> None:
        """Forget the failures of `addr` (after it authenticates, say)."""
        with self._lock:
            self._failures.pop(addr or "", None)

    def __len__(self) -> int:
        """Addresses tracked now."""
        return len(self._failures)

    def _left(self, times: deque[float], now: float) -> float:
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)
