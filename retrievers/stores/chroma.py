"""The dense vector store: a Chroma collection searched by inner product.

Embedded (`PersistentClient` on a directory) by default, or a Chroma server
(`chroma run --path DIR --port N`) when a URL is given; the same code serves both.
An embedded store has one client per path in a process, shared by every `ChromaStore` on it
and closed when the last of them closes (`chroma_clients`).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from ..errors import CollectionNotFound, RagError, StoreUnavailable
from ..passages import MetadataValue, Passage
from .chroma_clients import FixedClient, SharedClient, attach, chroma_client, detach, first_line
from .chroma_files import sweep_orphan_segments, vacuum
from .exact_index import ExactIndex
from .vector_cache import VectorCache

logger = logging.getLogger(__name__)

# Errors that mean our code is wrong, never that the store is down: they propagate as they are.
_BUGS = (TypeError, AttributeError, NameError, AssertionError)

# Chroma allows 512 characters; a name is also a directory name (255 bytes at most), so 200
COLLECTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,198}[A-Za-z0-9]$"  # and no ".." anywhere
_NAME = re.compile(COLLECTION_NAME_PATTERN)


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

    def relabel(self, passages: Sequence[Passage]) -> None: ...

    def query(self, embedding: np.ndarray, k: int, ids: Sequence[str] | None = None) -> list[tuple[Passage, float]]: ...

    def query_ids(self, embedding: np.ndarray, k: int, ids: Sequence[str] | None = None) -> list[tuple[str, float]]: ...

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def count(self) -> int: ...


class ChromaStore:
    """A Chroma collection holding passage vectors, texts and metadata, scored by inner product.

    Chroma's "ip" space returns `1 - <q, p>` as distance; `query` turns it back into the raw
    inner product so DPR's linear score fusion sees real similarities.
    """

    def __init__(
        self,
        collection: str,
        *,
        client: Any = None,
        path: str | Path | None = None,
        url: str | None = None,
        create: bool = True,
        version: Callable[[], int] | None = None,
    ) -> None:
        self.name = validate_collection_name(collection)
        self.url = url
        self.path = path
        self._shared: SharedClient | FixedClient | None
        if client is not None or url:
            self._shared = FixedClient(client if client is not None else chroma_client(url=url))
        else:
            self._shared = attach(path)
        try:
            with self._shared.use() as (chroma, epoch):
                self._attached = (epoch, self._open(chroma, create))
        except BaseException:
            self.close()
            raise
        # embedded only: `version()` changes when the collection is written; a change this process did not
        # make itself means another process wrote, and the shared client is opened anew before the next call
        self._version = version if isinstance(self._shared, SharedClient) else None
        self._seen = version() if self._version is not None else None
        # while the version stays (a server's writers cannot be seen: neither): all vectors for exact search when
        # they fit, else those read for exact fusion
        self._exact = ExactIndex(self._version) if self._version is not None else None
        self._vectors = VectorCache(self._version) if self._version is not None else None

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
        if isinstance(shared, SharedClient):
            detach(shared)

    def _live(self) -> "SharedClient | FixedClient":
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
            try:
                return chroma.get_collection(self.name, embedding_function=None)
            except Exception as exc:
                if type(exc).__name__ != "NotFoundError":
                    raise
            if self._finish_compaction(chroma):
                return chroma.get_collection(self.name, embedding_function=None)
            if create:
                return chroma.get_or_create_collection(
                    self.name, configuration={"hnsw": {"space": "ip"}}, embedding_function=None
                )
            return chroma.get_collection(self.name, embedding_function=None)
        except Exception as exc:
            raise self._translate(exc) from exc

    @property
    def _compacted_name(self) -> str:
        return f"{self.name[:180]}-compacted"

    def _finish_compaction(self, chroma: Any) -> bool:
        """A compaction killed between dropping the old collection and naming the new one: name it now."""
        try:
            done = chroma.get_collection(self._compacted_name, embedding_function=None)
        except Exception as exc:
            if type(exc).__name__ == "NotFoundError":
                return False
            raise
        done.modify(name=self.name)
        logger.warning("finished an interrupted compaction of %s", self.name)
        shared = self._live()
        if isinstance(shared, SharedClient):
            sweep_orphan_segments(shared.path)
        return True

    def compact(self, batch: int = 5000) -> None:
        """Rebuild the collection from its own vectors, texts and metadata, so that the slots of deleted vectors
        in Chroma's HNSW index are let go; the copy is complete before the old collection is dropped, and a kill
        between dropping and renaming is finished by the next open (`_finish_compaction`). Embedded stores only:
        the caller holds the collection's write lock."""
        shared = self._live()
        if not isinstance(shared, SharedClient):
            raise RagError("compaction rebuilds an embedded store; a Chroma server compacts its own")
        try:
            with shared.use() as (chroma, _):
                try:
                    chroma.delete_collection(self._compacted_name)  # a copy left by a kill before the swap
                except Exception as exc:
                    if type(exc).__name__ != "NotFoundError":
                        raise
                old = self._open(chroma, True)
                new = chroma.create_collection(
                    self._compacted_name, configuration={"hnsw": {"space": "ip"}}, embedding_function=None
                )
                for start in range(0, old.count(), batch):
                    got = old.get(include=["embeddings", "documents", "metadatas"], limit=batch, offset=start)
                    new.add(
                        ids=got["ids"],
                        embeddings=got["embeddings"],
                        documents=got["documents"],
                        metadatas=got["metadatas"],
                    )
                if new.count() != old.count():
                    chroma.delete_collection(self._compacted_name)
                    raise StoreUnavailable(
                        f"compaction of {self.name!r} copied {new.count()} of {old.count()} "
                        "vectors; the collection is left as it was"
                    )
                chroma.delete_collection(self.name)
                new.modify(name=self.name)
        except Exception as exc:
            raise self._translate(exc) from exc
        shared.renewed()
        sweep_orphan_segments(shared.path)  # the old collection's index files, which Chroma leaves on disk
        vacuum(shared.path)  # and the pages its rows held in the SQLite file

    def _translate(self, exc: Exception) -> Exception:
        if isinstance(exc, (RagError, *_BUGS)):  # a bug in how we call Chroma is a bug, not an unavailable store
            return exc
        if type(exc).__name__ == "NotFoundError":
            return CollectionNotFound(f"collection {self.name!r} has no vectors in Chroma")
        where = f"the Chroma server at {self.url}" if self.url else "the Chroma store"
        return StoreUnavailable(f"{where} failed: {first_line(exc)}")

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
        self._forget_vectors()
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

    def relabel(self, passages: Sequence[Passage]) -> None:
        """Replace the stored metadata of passages already here (their vectors and texts stay): Chroma merges an
        update into the old metadata, so keys the new metadata lacks are sent as None, which removes them."""
        for start in range(0, len(passages), 1000):
            chunk = passages[start : start + 1000]
            old = self._call("get", ids=[p.id for p in chunk], include=["metadatas"])
            before = {pid: meta or {} for pid, meta in zip(old["ids"], old["metadatas"])}
            metadatas = []
            for p in chunk:
                new: dict[str, MetadataValue | None] = dict(p.metadata())
                new.update({key: None for key in before.get(p.id, {}) if key not in new})
                metadatas.append(new)
            self._call("update", ids=[p.id for p in chunk], metadatas=metadatas)

    def delete(self, ids: Sequence[str]) -> None:
        self._forget_vectors()
        for start in range(0, len(ids), 5000):
            self._call("delete", ids=list(ids[start : start + 5000]))

    def query(self, embedding: np.ndarray, k: int, ids: Sequence[str] | None = None) -> list[tuple[Passage, float]]:
        """The k passages with the highest inner product with `embedding` (among `ids`, when given)."""
        k = k if ids is None else min(k, len(ids))
        if k <= 0:
            return []
        exact = self._exact_search(embedding, k, ids)
        if exact is not None:
            found = {p.id: p for p in self.passages([pid for pid, _ in exact])}
            return [(found[pid], score) for pid, score in exact if pid in found]
        result = self._call(
            "query",
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=k,
            include=["documents", "metadatas", "distances"],
            **({"ids": list(ids)} if ids is not None else {}),
        )
        ids = result["ids"][0]
        docs = result["documents"][0]
        metas: list[Mapping[str, MetadataValue]] = result["metadatas"][0]
        dists = result["distances"][0]
        return [
            (Passage.from_metadata(pid, doc or "", meta), 1.0 - float(dist))
            for pid, doc, meta, dist in zip(ids, docs, metas, dists)
        ]

    def query_ids(self, embedding: np.ndarray, k: int, ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Like `query`, ids and inner products only: for fusion, which reads the texts of the winners alone."""
        k = k if ids is None else min(k, len(ids))
        if k <= 0:
            return []
        exact = self._exact_search(embedding, k, ids)
        if exact is not None:
            return exact
        result = self._call(
            "query",
            query_embeddings=np.asarray(embedding, dtype=np.float32).reshape(1, -1),
            n_results=k,
            include=["distances"],
            **({"ids": list(ids)} if ids is not None else {}),
        )
        return [(pid, 1.0 - float(dist)) for pid, dist in zip(result["ids"][0], result["distances"][0])]

    def embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by id (ids that are absent are left out); an embedded store keeps what it read
        (`VectorCache`) until the collection is written."""
        if not ids:
            return {}
        held = self._exact.vectors(ids) if self._exact is not None else None
        if held is not None:
            return held
        if self._vectors is not None:
            return self._vectors.get(ids, self._read_embeddings)
        return self._read_embeddings(list(ids))

    def _read_embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        got = self._call("get", ids=ids, include=["embeddings"])
        return {pid: np.asarray(vec, dtype=np.float32) for pid, vec in zip(got["ids"], got["embeddings"])}

    def _exact_search(self, embedding: np.ndarray, k: int, ids: Sequence[str] | None) -> list[tuple[str, float]] | None:
        """Exact search over the vectors held in memory (`ExactIndex`), or None where HNSW must answer."""
        return None if self._exact is None else self._exact.search(embedding, k, ids, self.count, self._read_all)

    def _read_all(self, count: int) -> tuple[list[str], np.ndarray]:
        ids: list[str] = []
        parts: list[np.ndarray] = []
        for offset in range(0, count, 5000):
            got = self._call("get", include=["embeddings"], limit=5000, offset=offset)
            ids.extend(got["ids"])
            parts.append(np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1))
        return ids, (np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32))

    def _forget_vectors(self) -> None:
        if self._exact is not None:
            self._exact.clear()
        if self._vectors is not None:
            self._vectors.clear()

    def passages(self, ids: Sequence[str]) -> list[Passage]:
        """Stored passages (text and metadata) by id; ids that are absent are left out."""
        out: list[Passage] = []
        for start in range(0, len(ids), 1000):
            got = self._call("get", ids=list(ids[start : start + 1000]), include=["documents", "metadatas"])
            out.extend(
                Passage.from_metadata(pid, doc or "", meta)
                for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])
            )
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
        self._forget_vectors()
        try:
            self._with_client("delete_collection", self.name)
        except CollectionNotFound:
            pass
        shared = self._live()
        if isinstance(shared, SharedClient):
            sweep_orphan_segments(shared.path)
