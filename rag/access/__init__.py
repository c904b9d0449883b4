"""Access control: API keys per user with scopes and collection limits, an audit log, and throttling of failed logins.

Keys and the audit log live in STORE/access.sqlite3 (WAL, mode 0600). Only a salted hash of each key's secret is
kept; the full token (`rag_<8 hex>_<secret>`) is shown once, when the key is added.

    keys = KeyStore(settings.store)
    key_id, token = keys.add("alice", ["read", "ingest"], ["papers"])
    info = keys.verify(token)                      # None for unknown, malformed or revoked tokens
    keys.allows(info, "ingest", "papers")          # True

    database.py  the SQLite file (WAL, 0600) shared by the keys and the audit log; AccessError
    keys.py      KeyStore, KeyInfo: keys, their scopes and collections, verification
    audit.py     AuditLog, AuditEntry
    throttle.py  Throttle: failed logins per address
"""

from .audit import AUDIT_ACTIONS, AuditEntry, AuditLog
from .database import FILENAME, AccessError, iso_utc
from .keys import ALL_COLLECTIONS, KEY_PREFIX, SCOPES, KeyInfo, KeyStore
from .throttle import Throttle

__all__ = [
    "ALL_COLLECTIONS",
    "AUDIT_ACTIONS",
    "FILENAME",
    "KEY_PREFIX",
    "SCOPES",
    "AccessError",
    "AuditEntry",
    "AuditLog",
    "KeyInfo",
    "KeyStore",
    "Throttle",
    "iso_utc",
]
