"""What the server accepts as credentials: the shared `RAG_API_TOKEN` (full access) and the store's keys
(`rag keys add`, each with its scopes and collections), with failed attempts throttled per address.

Keys added while the server runs take effect at once: whether any credential exists is looked up at
most once a second, so the first `rag keys add` closes an open loopback server without a restart.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from typing import Any, Optional

from rag.access import AuditLog, KeyStore, Throttle
from rag.config import Settings

from .guard import Principal

logger = logging.getLogger(__name__)

TOKEN_PRINCIPAL = "api-token"


class Credentials:
    """Checks a presented bearer credential; `required()` says whether the server has any at all."""

    def __init__(self, settings: Settings, *, recheck_s: float = 1.0) -> None:
        self.token = settings.api_token
        self.keys = KeyStore(settings.store)
        self.throttle = Throttle()
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._has_keys: tuple[float, bool] = (-1e9, False)

    @property
    def audit(self) -> AuditLog:
        return self.keys.audit

    def required(self) -> bool:
        if self.token:
            return True
        with self._lock:
            checked, has = self._has_keys
            if time.monotonic() - checked > self.recheck_s:
                has = bool(self.keys.list(include_revoked=False))
                self._has_keys = (time.monotonic(), has)
            return has

    def authenticate(self, presented: str) -> Optional[Any]:
        """The principal for a presented token (the shared token, or a key's info), or None."""
        if self.token and hmac.compare_digest(presented.encode(), self.token.encode()):
            return Principal(TOKEN_PRINCIPAL)
        info = self.keys.verify(presented)
        if info is not None:
            logger.debug("authenticated key %s (%s)", info.id, info.name)
        return info

    def close(self) -> None:
        self.keys.close()


def actor(principal: Any) -> str:
    """How the audit log names who did something: the key's id and name, or the shared token."""
    key_id = getattr(principal, "id", None)
    return f"{key_id} ({principal.name})" if key_id else principal.name
