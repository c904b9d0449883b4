"""The dense vector store: a Chroma collection searched by inner product.

Embedded (`PersistentClient` on a directory) by default, or a Chroma server
(`chroma run --path DIR --port N`) when a URL is given; the same code serves both.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence
from urllib.parse import urlparse

import numpy as np

from .errors import CollectionNotFound, RagError, StoreUnavailable
from .passages import MetadataValue, Passage

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


def validate_collection_name(name: str) -> str:
    """Chroma's rule, which also keeps names safe as directory names (no `/`, no `..`)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise RagError(
            f"invalid collection name {name!r}: use 3-512 characters of letters, digits, '.', '_' or '-', "
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


_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def chroma_client(path: str | Path | None = None, url: str | None = None, *, fresh: bool = False) -> Any:
    """One Chroma client per location and process, with telemetry off.

    `fresh=True` opens the embedded store anew: embedded Chroma keeps its vector index in memory
    and never sees what another process has written since, so a reader that knows the data
    changed asks for a fresh client. Clients handed out before keep working on what they loaded.
    """
    import chromadb
    from chromadb.config import Settings

    key = f"url:{url}" if url else f"path:{Path(path or '.').resolve()}"
    with _clients_lock:
        if fresh and not url and key in _clients:
            _forget_system(_clients.pop(key))
        if key in _clients:
            return _clients[key]
        settings = Settings(anonymized_telemetry=False)
        if url:
            parsed = urlparse(url if "://" in url else f"http://{url}")
            if not parsed.hostname:
                raise RagError(f"invalid Chroma URL {url!r} (RAG_CHROMA_URL): expected http://HOST:PORT")
            try:
                client = chromadb.HttpClient(
                    host=parsed.hostname,
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=settings,
                )
            except Exception as exc:
                raise StoreUnavailable(
                    f"cannot reach the Chroma server at {url} (RAG_CHROMA_URL): {_first_line(exc)}; "
                    "start one with `chroma run --path DIR --port N` or unset RAG_CHROMA_URL"
                ) from exc
        else:
            Path(path or ".").mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(path), settings=settings)
        _clients[key] = client
        return client


def _forget_system(client: Any) -> None:
    """Make Chroma build a new in-process system for this client's path on the next open (its cache is
    keyed by path); the old system is not stopped, as collections opened from it may still be in use."""
    from chromadb.api.shared_system_client import SharedSystemClient

    identifier = getattr(client, "_identifier", None)
    SharedSystemClient._identifier_to_system.pop(identifier, None)
    SharedSystemClient._identifier_to_refcount.pop(identifier, None)


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
        self._client = client if client is not None else chroma_client(path=path, url=url)
        self._collection = self._open(create)
        # embedded only: `version()` changes when the collection is written; a change this store did not
        # make itself means another process wrote, and the in-memory index is reloaded before reading
        self._version = version if client is None and url is None else None
        self._seen = version() if self._version is not None else None
        self._refresh_lock = threading.Lock()

    def written(self, version: int) -> None:
        """This process wrote the collection up to `version`: its own index already has it."""
        self._seen = version

    def _refresh(self) -> None:
        if self._version is None:
            return
        current = self._version()
        if current == self._seen:
            return
        with self._refresh_lock:
            if current != self._seen:
                self._client = chroma_client(path=self.path, fresh=True)
                self._collection = self._open(True)
                self._seen = current

    def _open(self, create: bool) -> Any:
        try:
            if create:
                return self._client.get_or_create_collection(
                    self.name, configuration={"hnsw": {"space": "ip"}}, embedding_function=None
                )
            return self._client.get_collection(self.name, embedding_function=None)
        except Exception as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> Exception:
        if isinstance(exc, RagError):
            return exc
        if type(exc).__name__ == "NotFoundError":
            return CollectionNotFound(f"collection {self.name!r} has no vectors in Chroma")
        where = f"the Chroma server at {self.url}" if self.url else "the Chroma store"
        return StoreUnavailable(f"{where} failed: {_first_line(exc)}")

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            if method in ("query", "get", "count"):
                self._refresh()
            return getattr(self._collection, method)(**kwargs)
        except Exception as exc:
            raise self._translate(exc) from exc

    def upsert(self, passages: Sequence[Passage], embeddings: np.ndarray) -> None:
        batch = max(1, min(5000, self._client.get_max_batch_size()))
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
            self._client.delete_collection(self.name)
        except Exception as exc:
            if type(exc).__name__ != "NotFoundError":
                raise self._translate(exc) from exc
