"""The server's front door, as one ASGI middleware: Host and Origin checks, authentication before the body,
throttled failures, and body limits enforced on the stream.

It runs before FastAPI reads a byte of the body, so an unauthenticated or cross-site client cannot make
the server parse an upload, and a chunked body (no `Content-Length`) is cut off at the route's limit:
about 1 MiB for JSON routes, the upload limit for the two upload routes.

- **Host** (DNS rebinding): without a token the server answers only requests addressed to a loopback
  name (or `RAG_ALLOWED_HOSTS`), so a page whose domain was rebound to 127.0.0.1 gets 421.
- **Origin** (cross-site writes): a browser request that changes state (POST, PUT, PATCH, DELETE, and
  websockets) must come from the server's own origin or one in `RAG_ALLOWED_ORIGINS`; a form that a
  web page posts to `/v1/ingest` is refused with 403 whatever the mode.
- **Authentication**: `/v1/*` needs a bearer credential when the server has any (the shared
  `RAG_API_TOKEN` or keys from `rag keys`); what it grants is put in `scope["state"]["principal"]`
  for the routes to check scopes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
UPLOAD_PATHS = ("/v1/ingest", "/gradio_api/upload")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PATHS = ("/healthz",)


class BodyTooLarge(Exception):
    """Raised into the app when a body passes its route's limit (the client gets 413 whatever the app says)."""


class BodyTooSlow(Exception):
    """Raised into the app when a JSON body has not arrived in time (the client gets 408)."""


@dataclass
class Principal:
    """Who a request authenticated as and what it may do ('*' = every collection)."""

    name: str
    scopes: frozenset[str] = frozenset({"read", "ingest", "admin"})
    collections: tuple[str, ...] = ("*",)

    def allows(self, scope: str, collection: str | None = None) -> bool:
        if scope not in self.scopes and "admin" not in self.scopes:
            return False
        return collection is None or "*" in self.collections or collection in self.collections


ANONYMOUS = Principal("anonymous")  # a server with no credentials at all: loopback only, everything allowed


@dataclass
class GuardConfig:
    """What the guard enforces; `authenticate(token)` returns a Principal or None (no credentials = None)."""

    json_max_bytes: int
    upload_max_bytes: int
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    authenticate: Optional[Callable[[str], Optional[Principal]]] = None
    required: Callable[[], bool] = lambda: False  # whether credentials exist now (keys can be added live)
    throttle: Any = None  # rag.access.Throttle-like: failure(addr), blocked(addr) -> seconds, success(addr)
    body_seconds: float = 60.0  # a JSON body must arrive within this (slow-body clients hold a connection)
    ui_open: bool = False  # the UI was mounted without a login: closed once credentials appear
    extra: dict = field(default_factory=dict)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _host_name(host: str) -> str:
    """The host part of a Host header or URL authority, lower-cased, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _respond(
    send: Send,
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """The ASGI middleware; see the module docstring for what it checks, in that order."""

    def __init__(self, app: ASGIApp, config: GuardConfig) -> None:
        self.app = app
        self.config = config
        self.hosts = {h.lower() for h in (*LOOPBACK_HOSTS, *config.allowed_hosts)}
        self.origins = {o.rstrip("/").lower() for o in config.allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        secured = self.config.authenticate is not None and self.config.required()
        problem = self._check_host(scope, secured) or self._check_origin(scope)
        if problem:
            status, message = problem
            logger.warning("refused %s %s: %s", scope.get("method", "WS"), scope.get("path"), message)
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            return await _respond(send, status, message, "permission_error")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if secured and self.config.ui_open and not path.startswith("/v1/") and path not in PUBLIC_PATHS:
            return await _respond(
                send,
                403,
                "API keys were added while the UI was open without a login: restart "
                "`rag serve` so that the UI asks for one",
                "permission_error",
            )
        if path.startswith("/v1/") and secured:
            refused = self._authenticate(scope)
            if refused:
                status, message, headers = refused
                return await _respond(send, status, message, "authentication_error", headers)
        elif path.startswith("/v1/"):
            scope.setdefault("state", {})["principal"] = ANONYMOUS
        await self._limited(scope, receive, send)

    # -- checks --------------------------------------------------------------------------------

    def _check_host(self, scope: Scope, secured: bool) -> tuple[int, str] | None:
        """Without credentials only loopback names (and allowed hosts) may be addressed: no DNS rebinding."""
        if secured and not self.config.allowed_hosts:
            return None
        host = _header(scope, b"host")
        if host is None or _host_name(host) not in self.hosts:
            return 421, (
                f"this server does not answer for host {host!r}; allowed: "
                f"{', '.join(sorted(self.hosts))} (RAG_ALLOWED_HOSTS)"
            )
        return None

    def _check_origin(self, scope: Scope) -> tuple[int, str] | None:
        """A browser's state-changing request must come from this server's own origin or an allowed one."""
        if scope["type"] == "http" and scope.get("method") not in UNSAFE_METHODS:
            return None
        origin = _header(scope, b"origin")
        if origin is None:  # not a browser's cross-site request (curl, the openai client)
            fetch_site = _header(scope, b"sec-fetch-site")
            if fetch_site in ("cross-site", "same-site"):
                return 403, "cross-site requests are refused"
            return None
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return None
        parts = urlsplit(origin)
        host = _header(scope, b"host") or ""
        if origin != "null" and parts.netloc and parts.netloc == host.lower():
            return None
        return 403, f"cross-site request from {origin!r} refused (allow an origin with RAG_ALLOWED_ORIGINS)"

    def _authenticate(self, scope: Scope) -> tuple[int, str, tuple] | None:
        assert self.config.authenticate is not None
        if scope.get("path") in PUBLIC_PATHS:
            return None
        client = (scope.get("client") or ("?", 0))[0]
        throttle = self.config.throttle
        if throttle is not None and (wait := throttle.blocked(client)) > 0:
            return (
                429,
                f"too many failed authentications; try again in {wait:.0f} s",
                ((b"retry-after", str(max(1, int(wait))).encode()),),
            )
        scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
        principal = self.config.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if principal is None:
            if throttle is not None:
                throttle.failure(client)
            return 401, "missing or wrong API key: send Authorization: Bearer KEY", ()
        scope.setdefault("state", {})["principal"] = principal
        return None

    # -- the body ------------------------------------------------------------------------------

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting the body as it streams; past the limit the client gets 413."""
        path = scope.get("path", "")
        limit = self.config.upload_max_bytes if path in UPLOAD_PATHS else self.config.json_max_bytes
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            return await _respond(send, 413, f"request body too large: the limit here is {limit} bytes")
        deadline = time.monotonic() + self.config.body_seconds if path not in UPLOAD_PATHS else None
        state = {"read": 0, "over": False, "slow": False, "started": False, "complete": False}

        async def limited_receive() -> Message:
            if deadline is None or state["complete"]:  # after the body, receive() waits for the disconnect
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    state["slow"] = True
                    raise BodyTooSlow("the request body did not arrive in time") from None
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                state["complete"] = not message.get("more_body", False)
                if state["read"] > limit:
                    state["over"] = True
                    raise BodyTooLarge(f"request body too large: the limit here is {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"] or state["slow"]:  # whatever the app made of the exception, the client hears why
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await _refuse()
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def _refuse() -> None:
            if state["over"]:
                await _respond(send, 413, f"request body too large: the limit here is {limit} bytes")
            else:
                await _respond(send, 408, "the request body did not arrive in time")

        try:
            await self.app(scope, limited_receive, guarded_send)
        except (BodyTooLarge, BodyTooSlow):
            if not state["started"]:
                state["started"] = True
                await _refuse()
