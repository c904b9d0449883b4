"""The dense vector store: a Chroma collection searched by inner product.

Embedded (`PersistentClient` on a directory) by default, or a Chroma server
(`chroma run --path DIR --port N`) when a URL is given; the same code serves both.
An embedded store has one client per path in a process, shared by every `ChromaStore` on it
and closed when the last of them closes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence
from urllib.parse import urlparse

import numpy as np

from .errors import CollectionNotFound, RagError, StoreUnavailable
from .passages import MetadataValue, Passage

logger = logging.getLogger(__name__)

# Errors that mean our code is wrong, never that the store is down: they propagate as they are.
_BUGS = (TypeError, AttributeError, NameError, AssertionError)

# Chroma allows 512 characters; a name is also a directory name (255 bytes at most), so 200
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,198}[A-Za-z0-9]$")


def validate_collection_name(name: str) -> str:
    """Chroma's rule, which also keeps names safe as directory names (no `/`, no `..`, at most 200 characters)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        shown = repr(name) if len(str(name)) <= 80 else repr(str(name)[:60]) + f" ({len(str(name))} characters)"
        raise RagError(
            f"invalid collection name {shown}: use 3-200 characters of letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


class Store(Protocol):
    """A dense store: vectors with their passages, searched by inner product."""

    def upsert(self, passages: Sequence[Passage], embeddings: np.ndarray) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Passage, float]]: ...

    def query_ids(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]: ...

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def count(self) -> int: ...


_clients: dict[str, Any] = {}  # Chroma servers, by URL
_embedded: dict[str, "_Embedded"] = {}  # embedded stores, by resolved path
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
        return shared.client if shared is not None else _attach(path).client
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
                f"cannot reach the Chroma server at {url} (RAG_CHROMA_URL): {_first_line(exc)}; "
                "start one with `chroma run --path DIR --port N` or unset RAG_CHROMA_URL"
            ) from exc
        _clients[key] = client
        return client


def _path_key(path: str | Path | None) -> str:
    return str(Path(path or ".").resolve())


class _Embedded:
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


def _attach(path: str | Path | None) -> _Embedded:
    """The shared client of `path`, counted as one more user."""
    key = _path_key(path)
    with _clients_lock:
        shared = _embedded.get(key)
        if shared is None:
            shared = _embedded[key] = _Embedded(Path(key))
        shared.users += 1
        return shared


def _detach(shared: _Embedded) -> None:
    """One user fewer; the last one closes the client and forgets the path (under the registry's lock, so
    that a store attaching meanwhile waits and then opens a client of its own)."""
    with _clients_lock:
        shared.users -= 1
        if shared.users > 0:
            return
        if _embedded.get(str(shared.path)) is shared:
            del _embedded[str(shared.path)]
        shared.close()


class _Fixed:
    """A client given by the caller or a Chroma server: `_Embedded`'s interface, never reopened or closed."""

    epoch = 0

    def __init__(self, client: Any) -> None:
        self.client = client
        self.written: dict[str, int] = {}

    @contextmanager
    def use(self) -> Iterator[tuple[Any, int]]:
        yield self.client, 0

    def reopen(self, since: float) -> None:
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class ChromaStore:
    """A Chroma collection holding passage vectors, texts and metadata, scored by inner product.

    Chroma's "ip" space returns `1 - <q, p>` as distance; `query` turns it back into the raw
    inner product so DPR's linear score fusion sees real similarities.
    """

    def __init__(self, collection: str, *, client: Any = None, path: str | Path | None = None,
                 url: str | None = None, create: bool = True, version: Callable[[], int] | None = None) -> None:
        self.name = validate_collection_name(collection)
        self.url = url
        self.path = path
        self._shared: _Embedded | _Fixed | None
        if client is not None or url:
            self._shared = _Fixed(client if client is not None else chroma_client(url=url))
        else:
            self._shared = _attach(path)
        try:
            with self._shared.use() as (chroma, epoch):
                self._attached = (epoch, self._open(chroma, create))
        except BaseException:
            self.close()
            raise
        # embedded only: `version()` changes when the collection is written; a change this process did not
        # make itself means another process wrote, and the shared client is opened anew before the next call
        self._version = version if isinstance(self._shared, _Embedded) else None
        self._seen = version() if self._version is not None else None

    @property
    def client(self) -> Any:
        """The Chroma client this store uses now (for an embedded store, the one shared by its path)."""
        return self._live().client

    def written(self, version: int) -> None:
        """This process wrote the collection up to `version`: the shared client already has it."""
        self._seen = version
        if self._shared is not None:
            self._shared.written[self.name] = version

    def close(self) -> None:
        """Stop using the shared client; the last store on a path closes it. Later calls raise."""
        shared, self._shared = self._shared, None
        if isinstance(shared, _Embedded):
            _detach(shared)

    def _live(self) -> "_Embedded | _Fixed":
        shared = self._shared
        if shared is None:
            raise StoreUnavailable(f"the Chroma store of collection {self.name!r} was closed")
        return shared

    def _refresh(self) -> None:
        if self._version is None:
            return
        since = time.monotonic()
        current = self._version()
        if current == self._seen:
            return
        shared = self._live()
        if shared.written.get(self.name) != current:  # not our own write: another process's
            shared.reopen(since)
        self._seen = current

    def _open(self, chroma: Any, create: bool) -> Any:
        try:
            if create:
                return chroma.get_or_create_collection(
                    self.name, configuration={"hnsw": {"space": "ip"}}, embedding_function=None
                )
            return chroma.get_collection(self.name, embedding_function=None)
        except Exception as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> Exception:
        if isinstance(exc, (RagError, *_BUGS)):  # a bug in how we call Chroma is a bug, not an unavailable store
            return exc
        if type(exc).__name__ == "NotFoundError":
            return CollectionNotFound(f"collection {self.name!r} has no vectors in Chroma")
        where = f"the Chroma server at {self.url}" if self.url else "the Chroma store"
        return StoreUnavailable(f"{where} failed: {_first_line(exc)}")

    def _call(self, method: str, **kwargs: Any) -> Any:
        """`method` of the Chroma collection, on the current shared client (re-attached after a reopen)."""
        shared = self._live()
        try:
            self._refresh()
            with shared.use() as (chroma, epoch):
                attached_epoch, collection = self._attached
                if attached_epoch != epoch:
                    collection = self._open(chroma, True)
                    self._attached = (epoch, collection)
                return getattr(collection, method)(**kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc

    def _with_client(self, method: str, *args: Any) -> Any:
        """`method` of the Chroma client itself."""
        try:
            with self._live().use() as (chroma, _):
                return getattr(chroma, method)(*args)
        except Exception as exc:
            raise self._translate(exc) from exc

    def upsert(self, passages: Sequence[Passage], embeddings: np.ndarray) -> None:
        batch = max(1, min(5000, self._with_client("get_max_batch_size")))
        for start in range(0, len(passages), batch):
            chunk = passages[start : start + batch]
            self._call(
                "upsert",
                ids=[p.id for p in chunk],
                embeddings=np.asarray(embeddings[start : start + batch], dtype=np.float32),
                documents=[p.text for p in chunk],
                metadatas=[p.metadata() for p in chunk],
            )

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 5000):
            self._call("delete", ids=list(ids[start : start + 5000]))

    def query(self, embedding: np.ndarray, k: int) -> list[tuple[Passage, float]]:
        """The k passages with the highest inner product with `embedding`."""
        if k <= 0:
            return []
        result = self._call(
            "query",
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=k,
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        docs = result["documents"][0]
        metas: list[Mapping[str, MetadataValue]] = result["metadatas"][0]
        dists = result["distances"][0]
        return [
            (Passage.from_metadata(pid, doc or "", meta), 1.0 - float(dist))
            for pid, doc, meta, dist in zip(ids, docs, metas, dists)
        ]

    def query_ids(self, embedding: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Like `query`, ids and inner products only: for fusion, which reads the texts of the winners alone."""
        if k <= 0:
            return []
        result = self._call("query", query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
                            n_results=k, include=["distances"])
        return [(pid, 1.0 - float(dist)) for pid, dist in zip(result["ids"][0], result["distances"][0])]

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by id (ids that are absent are left out)."""
        if not ids:
            return {}
        got = self._call("get", ids=list(ids), include=["embeddings"])
        return {pid: np.asarray(vec, dtype=np.float32) for pid, vec in zip(got["ids"], got["embeddings"])}

    def passages(self, ids: Sequence[str]) -> list[Passage]:
        """Stored passages (text and metadata) by id; ids that are absent are left out."""
        out: list[Passage] = []
        for start in range(0, len(ids), 1000):
            got = self._call("get", ids=list(ids[start : start + 1000]), include=["documents", "metadatas"])
            out.extend(Passage.from_metadata(pid, doc or "", meta)
                       for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]))
        return out

    def ids(self) -> set[str]:
        """Every id in the collection (for consistency checks)."""
        out: set[str] = set()
        total = self.count()
        for offset in range(0, total, 5000):
            got = self._call("get", include=[], limit=5000, offset=offset)
            out.update(got["ids"])
        return out

    def count(self) -> int:
        return int(self._call("count"))

    def drop(self) -> None:
        """Delete the whole Chroma collection."""
        try:
            self._with_client("delete_collection", self.name)
        except CollectionNotFound:
            pass
