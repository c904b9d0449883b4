"""API keys per user: scopes (read, ingest, admin) and the collections each may use, with only a salted hash of
each secret kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

from retrievers.errors import RagError
from retrievers.stores import validate_collection_name

from .audit import AuditLog
from .database import AccessError, Database, iso_utc

SCOPES = ("read", "ingest", "admin")  # admin implies the others
ALL_COLLECTIONS = "*"
KEY_PREFIX = "rag_"

_ID_HEX = 8  # key ids are KEY_PREFIX + 8 hex digits: public, short, unique per store
_ID_LENGTH = len(KEY_PREFIX) + _ID_HEX
_MAX_TOKEN = 200  # longer tokens are refused before hashing
_MAX_NAME = 100
_DUMMY_SALT = b"\0" * 16  # hashed against when the key id is unknown, so both paths cost the same
_DUMMY_HASH = b"\0" * 32

Collections = Union[str, tuple[str, ...]]


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
        return {
            "id": self.id,
            "name": self.name,
            "scopes": list(self.scopes),
            "collections": self.collections if self.collections == ALL_COLLECTIONS else list(self.collections),
            "created": iso_utc(self.created),
            "revoked": iso_utc(self.revoked),
            "last_used": iso_utc(self.last_used),
        }


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


def _parse_token(token: object) -> Optional[tuple[str, str]]:
    """(key id, secret) of a well-formed token, else None."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN or len(token) <= _ID_LENGTH + 1:
        return None
    key_id, sep, secret = token[:_ID_LENGTH], token[_ID_LENGTH], token[_ID_LENGTH + 1 :]
    if sep != "_" or not _valid_id(key_id):
        return None
    return key_id, secret


def _valid_id(key_id: object) -> bool:
    return (
        isinstance(key_id, str)
        and len(key_id) == _ID_LENGTH
        and key_id.startswith(KEY_PREFIX)
        and all(c in "0123456789abcdef" for c in key_id[len(KEY_PREFIX) :])
    )


def _scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        scopes = [scopes]
    given = {s.strip().lower() for item in scopes for s in str(item).split(",") if s.strip()}
    unknown = sorted(given - set(SCOPES))
    if unknown:
        raise AccessError(
            f"unknown scope {', '.join(map(repr, unknown))}: choose from {', '.join(SCOPES)} (admin implies the others)"
        )
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
        self._db = Database(store)
        self._clock = clock
        self.path = self._db.path
        self.audit = AuditLog._on(self._db, clock)

    def add(
        self,
        name: str,
        scopes: Iterable[str],
        collections: Union[str, Iterable[str]] = ALL_COLLECTIONS,
        *,
        actor: str = "local",
    ) -> tuple[str, str]:
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
                    conn.execute(
                        "INSERT INTO keys (id, name, scopes, collections, salt, hash, created) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            key_id,
                            name,
                            ",".join(scope_list),
                            stored_limits,
                            salt,
                            _digest(salt, secret),
                            float(self._clock()),
                        ),
                    )
                    self.audit._insert(
                        conn,
                        actor,
                        "key.add",
                        key_id,
                        f"name={name} scopes={','.join(scope_list)} collections={stored_limits}",
                    )
            except sqlite3.IntegrityError:
                continue
            return key_id, f"{key_id}_{secret}"
        raise AccessError("could not find a free key id; try again")  # pragma: no cover (2**-320)

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key, oldest first, without secrets or hashes."""
        rows = self._db.read(
            f"SELECT {self._COLUMNS} FROM keys"
            + ("" if include_revoked else " WHERE revoked IS NULL")
            + " ORDER BY created, id"
        )
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
