"""Chroma clients, one per location and process: embedded stores share theirs, servers are reached by URL.

An embedded store has one client per path in a process, shared by every `ChromaStore` on it and
closed when the last of them closes; it is opened anew when another process wrote the store.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

from ..errors import RagError, StoreUnavailable

logger = logging.getLogger(__name__)

_clients: dict[str, Any] = {}  # Chroma servers, by URL
_embedded: dict[str, "SharedClient"] = {}  # embedded stores, by resolved path
_clients_lock = threading.Lock()


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def chroma_client(path: str | Path | None = None, url: str | None = None) -> Any:
    """One Chroma client per location and process, with telemetry off.

    For an embedded store this is the client that every `ChromaStore` on the path shares, borrowed: it is
    replaced when the store is opened anew. A path that no store has open is opened for the process's life.
    """
    if not url:
        with _clients_lock:
            shared = _embedded.get(_path_key(path))
        return shared.client if shared is not None else attach(path).client
    import chromadb

    key = f"url:{url}"
    with _clients_lock:
        if key in _clients:
            return _clients[key]
        parsed = urlparse(url if "://" in url else f"http://{url}")
        if not parsed.hostname:
            raise RagError(f"invalid Chroma URL {url!r} (RAG_CHROMA_URL): expected http://HOST:PORT")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=_settings(),
            )
        except Exception as exc:
            raise StoreUnavailable(
                f"cannot reach the Chroma server at {url} (RAG_CHROMA_URL): {first_line(exc)}; "
                "start one with `chroma run --path DIR --port N` or unset RAG_CHROMA_URL"
            ) from exc
        _clients[key] = client
        return client


def _path_key(path: str | Path | None) -> str:
    return str(Path(path or ".").resolve())


class SharedClient:
    """The one embedded Chroma client of a store path in this process, shared by every `ChromaStore` on it.

    `users` counts the stores attached (the client closes when the last detaches). `reopen` replaces the
    client, to see what another process wrote, once no call is running on the old one; stores notice by `epoch`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.users = 0
        self.epoch = 0
        self.written: dict[str, int] = {}  # collection -> the version this process last wrote through the client
        self._cond = threading.Condition()
        self._active = 0
        self._reopening = False
        self.opened = 0.0
        self.client = self._open()

    def _open(self) -> Any:
        import chromadb

        started = time.monotonic()  # taken before opening: the client sees every write committed by then
        self.path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(self.path), settings=_settings())
        self.opened = started
        return client

    @contextmanager
    def use(self) -> Iterator[tuple[Any, int]]:
        """The current client and its epoch, kept open while the block runs (never nest two)."""
        with self._cond:
            while self._reopening:
                self._cond.wait()
            self._active += 1
            client, epoch = self.client, self.epoch
        try:
            yield client, epoch
        finally:
            with self._cond:
                self._active -= 1
                if not self._active:
                    self._cond.notify_all()

    def reopen(self, since: float) -> None:
        """Open the store anew, unless a client opened at or after `since` (a `time.monotonic()`) serves already."""
        with self._cond:
            while self._reopening:
                self._cond.wait()
            if self.opened >= since:
                return
            self._reopening = True
            try:
                while self._active:
                    self._cond.wait()
                self._close_client(reopening=True)
                self.client = self._open()
                self.epoch += 1
                self.written.clear()
            finally:
                self._reopening = False
                self._cond.notify_all()

    def renewed(self) -> None:
        """A collection was replaced under its name (compaction): every store opens it again by name."""
        with self._cond:
            self.epoch += 1

    def close(self) -> None:
        """Close the client once no call is running on it (the last store detached)."""
        with self._cond:
            while self._active:
                self._cond.wait()
            self._close_client(reopening=False)

    def _close_client(self, *, reopening: bool) -> None:
        self.client.close()  # stops Chroma's in-process system for the path when no other client holds it
        from chromadb.api.shared_system_client import SharedSystemClient

        identifier = getattr(self.client, "_identifier", None)
        if reopening and identifier in SharedSystemClient._identifier_to_system:
            # a client opened outside this module still holds the old system: leave it to that client, so
            # that the new client reads the store from disk instead of sharing the stale in-memory index
            logger.warning("a Chroma client opened outside retrievers holds %s; opening a second one", self.path)
            SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)


def attach(path: str | Path | None) -> SharedClient:
    """The shared client of `path`, counted as one more user."""
    key = _path_key(path)
    with _clients_lock:
        shared = _embedded.get(key)
        if shared is None:
            shared = _embedded[key] = SharedClient(Path(key))
        shared.users += 1
        return shared


def detach(shared: SharedClient) -> None:
    """One user fewer; the last one closes the client and forgets the path (under the registry's lock, so
    that a store attaching meanwhile waits and then opens a client of its own)."""
    with _clients_lock:
        shared.users -= 1
        if shared.users > 0:
            return
        if _embedded.get(str(shared.path)) is shared:
            del _embedded[str(shared.path)]
        shared.close()


class FixedClient:
    """A client given by the caller or a Chroma server: `SharedClient`'s interface, never reopened or closed."""

    epoch = 0

    def __init__(self, client: Any) -> None:
        self.client = client
        self.written: dict[str, int] = {}

    @contextmanager
    def use(self) -> Iterator[tuple[Any, int]]:
        yield self.client, 0

    def reopen(self, since: float) -> None:
        pass


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
