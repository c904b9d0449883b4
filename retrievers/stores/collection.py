"""A collection on disk: the passage table, the Chroma vectors and the BM25 index, kept in step (where each
lives: `layout`; the table itself: `passage_table`).

Every change goes through `Collection.update`, which writes a pending list first (a write-ahead manifest),
then the vectors, then the passage table in one transaction, then BM25. After a crash, `recover` finishes
the work the manifest names, so Chroma, the table and BM25 agree again. A large ingest may write several
updates and BM25 only with the last (`index_bm25`); `recover` also rebuilds a BM25 index a kill left behind.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from ..encoders import DEFAULT_MODEL, Encoder, load_encoder
from ..errors import CollectionNotFound, RagError
from ..filters import Filters
from ..passages import Passage
from .bm25_index import BM25Index, corpus_token_ids
from .chroma import ChromaStore, validate_collection_name
from .filter_index import FilterIndex
from .layout import default_store_dir, list_collections
from .passage_table import PassageTable, SourceUpdate, UpdateStats
from .vectors import encode_into

logger = logging.getLogger(__name__)


class Collection:
    """A named passage collection in a store directory (see the module docstring).

    Opening a collection that does not exist raises `CollectionNotFound` unless `create=True`.
    `chroma_url` puts the vectors on a Chroma server; the passage table and BM25 stay local.
    """

    def __init__(
        self, name: str, store_dir: str | Path | None = None, *, chroma_url: str | None = None, create: bool = False
    ) -> None:
        self.name = validate_collection_name(name)
        self.store_dir = Path(store_dir) if store_dir is not None else default_store_dir()
        self.chroma_url = chroma_url
        self.dir = self.store_dir / "collections" / name
        if not (self.dir / "meta.json").is_file():
            if not create:
                known = list_collections(self.store_dir)
                hint = f"; existing: {', '.join(known)}" if known else ""
                raise CollectionNotFound(
                    f"collection {name!r} does not exist in {self.store_dir}: "
                    f"create it with `rag ingest PATH --collection {name}`{hint}"
                )
            self.dir.mkdir(parents=True, exist_ok=True)
            self._write_meta({"name": name, "model": None, "dimension": None, "created": time.time()})
        self.meta = json.loads((self.dir / "meta.json").read_text(encoding="utf-8"))
        self.table = PassageTable(self.dir / "passages.sqlite")
        self._filter_index: FilterIndex | None = None
        self._dense: ChromaStore | None = None
        self._bm25: BM25Index | None = None
        self._encoder: Encoder | None = None
        self._closed = False

    # -- parts -------------------------------------------------------------------------------

    @property
    def model(self) -> str | None:
        """The encoder model the vectors were made with (None before the first passage).

        The passage table's record wins; meta.json's answers for collections written before there was one,
        and once the collection is closed (`close` copies the record into it).
        """
        if self._closed:
            return self.meta.get("model")
        return self.table.recorded("model") or self.meta.get("model")

    def _unrecorded_encoder(self) -> RagError:
        return RagError(
            f"collection {self.name!r} holds {self.count()} passages but no record of the encoder that made its "
            "vectors (an ingest was interrupted before recording it), so queries could not use the right one: "
            f"delete it with `rag delete {self.name}` and ingest again"
        )

    def annotate(self, **fields: object) -> None:
        """Record extra facts in meta.json (e.g. the fingerprint of the model a copy was encoded with)."""
        self._write_meta({**self.meta, **fields})

    def dense(self, create: bool = False) -> ChromaStore:
        if self._dense is None:
            self._dense = ChromaStore(
                self.name,
                path=self.store_dir / "chroma",
                url=self.chroma_url,
                create=create or self.count() == 0,
                version=self.generation,
            )
        return self._dense

    def encoder(self, **options: object) -> Encoder:
        """The collection's passage/question encoder, loaded once (the default one only for an empty collection)."""
        if self._encoder is None:
            model = self.model
            if model is None and self.count() > 0:
                raise self._unrecorded_encoder()
            self._encoder = load_encoder(model or DEFAULT_MODEL, **options)  # type: ignore[arg-type]
        return self._encoder

    def bm25(self) -> BM25Index:
        """The BM25 index for the current passage table (reloaded or rebuilt when stale)."""
        generation = self.generation()
        if self._bm25 is not None and self._bm25.generation == generation:
            return self._bm25
        index = BM25Index.load(self.dir / "bm25")
        if index is None or index.generation != generation:
            index = self._build_bm25()
        self._bm25 = index
        return index

    def _build_bm25(self) -> BM25Index:
        """BM25 over the passage table as one snapshot, streamed (`PassageTable.snapshot`): the corpus is
        never held as a list of texts, and other threads keep reading while the index is built."""
        ids: list[str] = []
        with self.table.snapshot() as (generation, rows):

            def texts() -> Iterator[str]:
                for pid, text in rows:
                    ids.append(pid)
                    yield text

            token_ids, vocab = corpus_token_ids(texts())
        return BM25Index.from_token_ids(ids, token_ids, vocab, generation=generation)

    # -- reading -----------------------------------------------------------------------------

    def count(self) -> int:
        return self.table.count()

    def deleted_share(self) -> float:
        """Vectors deleted or replaced since the last compaction, as a share of the passages (0 when empty)."""
        return self.table.deleted_since_compaction() / count if (count := self.count()) else 0.0

    def generation(self) -> int:
        return self.table.generation()

    def get(self, ids: Sequence[str]) -> dict[str, Passage]:
        """Passages by id (ids not in the collection are left out)."""
        return self.table.get(ids)

    def matching(self, filters: Filters) -> list[str]:
        """The ids of the passages whose metadata meets `filters` (`retrievers.filters`)."""
        index = self._filter_index
        generation = self.generation()
        if index is None or index.generation != generation:  # built once per version of the collection
            index = self._filter_index = FilterIndex(self.table.metadata(), generation)
        return index.matching(filters)

    def ids(self) -> list[str]:
        """Every passage id, in insertion order."""
        return self.table.ids()

    def passages(self) -> Iterator[Passage]:
        """Every passage, in insertion order."""
        return self.table.passages()

    def signatures(self) -> dict[str, str | None]:
        """Each ingested source with the signature (content hash) it was last ingested at."""
        return self.table.signatures()

    def passage_counts(self) -> dict[str, int]:
        """Number of passages per source."""
        return self.table.passage_counts()

    def ingested_at(self) -> dict[str, float | None]:
        """Each source with when it was last ingested (seconds since the epoch)."""
        return self.table.ingested_at()

    def consistency(self) -> dict[str, set[str]]:
        """Ids on which the parts disagree; every set is empty when the collection is in step."""
        table = set(self.table.ids())
        dense = self.dense(create=True).ids()
        saved = BM25Index.load(self.dir / "bm25")
        bm25 = set(saved.ids) if saved is not None else set()
        return {"not_in_dense": table - dense, "not_in_table": dense - table, "bm25_differs": table ^ bm25}

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def _writing(self, block: bool = True) -> Iterator[bool]:
        """One writer per collection across processes; yields False when `block=False` and it is taken."""
        with open(self.dir / "lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def update(
        self,
        updates: Sequence[SourceUpdate],
        encoder: Encoder | None = None,
        *,
        progress: bool = False,
        index_bm25: bool = True,
    ) -> UpdateStats:
        """Bring the given sources to their new passages: encode and add what is new, drop what is gone.

        Passages whose id and content are already indexed are left alone (no re-encoding). `index_bm25=False`
        leaves the saved BM25 index behind the table, for a large ingest written in several updates: the last
        one (or the next `recover`) rebuilds it once, and readers meanwhile build their own from the table."""
        encoder = encoder if encoder is not None else self.encoder()  # an encoder may define __len__
        with self._writing():
            self._recover_locked()
            self.check_model(encoder.name)
            stats, to_add, to_remove, relabel = self.table.diff(updates)
            changed = bool(to_add or to_remove or relabel)
            if relabel:  # Chroma's copy of the metadata first: the table's rows say what is done
                self.dense(create=True).relabel(relabel)
            if to_add or to_remove:
                self.table.write_pending(to_add, to_remove, {"model": encoder.name, "dimension": encoder.dimension})
                dense = self.dense(create=True)
                add_ids = {p.id for p in to_add}
                started = time.perf_counter()
                dense.delete([pid for pid, _ in to_remove if pid not in add_ids])
                stats.timings["store"] = time.perf_counter() - started
                encode_into(
                    dense, to_add, encoder, progress=progress, timings=stats.timings, desc=f"encoding {self.name}"
                )
            started = time.perf_counter()
            with self.table.transaction():
                empty = self.table.empty()
                self.table.replace([pid for pid, _ in to_remove], to_add)
                self.table.relabel(relabel)
                if to_add:  # the encoder goes with the rows it made, never after them
                    self.table.record_encoder(encoder.name, encoder.dimension, replace=empty)
                now = time.time()
                for update in updates:
                    if update.passages is None:
                        self.table.drop_source(update.source)
                    else:
                        self.table.sign(update.source, update.signature, now)
                self.table.clear_pending()
                if to_remove or stats.replaced:
                    self.table.count_deleted(len(to_remove) + stats.replaced)
                if changed:
                    self.table.bump_generation()
            stats.timings["table"] = time.perf_counter() - started
            self._mirror_encoder()
            if changed and self._dense is not None:
                self._dense.written(self.generation())  # the shared client has these vectors already
            if index_bm25 and (changed or self._bm25_stale()):
                started = time.perf_counter()
                self._save_bm25()
                stats.timings["bm25"] = time.perf_counter() - started
        return stats

    @property
    def tuned(self) -> dict:
        """The retrieval settings `rag tune` chose for this collection (`{}` when it was never tuned)."""
        tuned = self.meta.get("tuned")
        return tuned if isinstance(tuned, dict) else {}

    def set_tuned(self, tuned: dict) -> None:
        """Record the retrieval settings chosen for this collection, with how they scored."""
        with self._writing():
            self._write_meta({**self.meta, "tuned": tuned})

    def compact(self) -> None:
        """Reclaim what deletions left behind (`rag compact`): Chroma's collection is rebuilt from its own vectors
        and the SQLite files vacuumed, under the write lock; searches give the same results before and after."""
        with self._writing():
            self._recover_locked()
            if self.count():
                self.dense().compact()
                with self.table.transaction():  # other processes see a new version and open the new collection
                    self.table.bump_generation()
                    self.table.compacted()
                self._dense.written(self.generation())
                self._save_bm25()
            self.table.vacuum()

    def _mirror_encoder(self) -> None:
        """Copy the table's record of the encoder into meta.json, for people and older readers."""
        model, dimension = self.table.recorded("model"), self.table.recorded("dimension")
        if model is None:
            return
        dimension = json.loads(dimension) if dimension is not None else None
        if (self.meta.get("model"), self.meta.get("dimension")) != (model, dimension):
            self._write_meta({**self.meta, "model": model, "dimension": dimension})

    def check_model(self, name: str) -> None:
        """Refuse to mix vectors of two models in one collection, or to guess the model of unrecorded ones."""
        if self.count() == 0:
            return
        model = self.model
        if model is None:
            raise self._unrecorded_encoder()
        if model != name:
            raise RagError(
                f"collection {self.name!r} was encoded with model {model!r}, not {name!r}: "
                "use that model, or another --collection for the new one"
            )

    def recover(self, block: bool = True) -> bool:
        """Finish an update that was interrupted; True when there was one.

        With `block=False` it does nothing while another process holds the write lock: pending
        work then belongs to an update in progress, not to a crash.
        """
        with self._writing(block) as locked:
            if not locked:
                return False
            if self._recover_locked():
                return True
            if self._bm25_stale():  # an ingest killed between the writes of its batches
                self._save_bm25()
                return True
            return False

    def _recover_locked(self) -> bool:
        """Roll an interrupted update forward: vectors that reached Chroma join the table, removals
        complete, and the sources involved lose their signature so the next ingest re-checks them.
        """
        pending = self.table.pending()
        if not pending:
            return False
        dense = self.dense(create=True)
        removes = [pid for pid, _, op in pending if op == "remove"]
        adds = [pid for pid, _, op in pending if op == "add"]
        dense.delete(removes)
        arrived = dense.passages(adds)
        made_by = self.table.recorded("pending_encoder")
        with self.table.transaction():
            empty = self.table.empty()
            self.table.replace(removes, arrived)
            if arrived and made_by is not None:
                encoder = json.loads(made_by)
                self.table.record_encoder(encoder["model"], encoder["dimension"], replace=empty)
            elif arrived:
                logger.warning("collection %r: the interrupted update did not name its encoder", self.name)
            self.table.unsign(list({s for _, s, _ in pending}), time.time())
            self.table.clear_pending()
            self.table.bump_generation()
        self._mirror_encoder()
        self._save_bm25()
        return True

    def _bm25_stale(self) -> bool:
        """True when the saved BM25 index was built from an older state of a non-empty table."""
        saved = BM25Index.saved_generation(self.dir / "bm25")
        return saved != self.generation() and (saved is not None or self.count() > 0)

    def _save_bm25(self) -> None:
        index = self._build_bm25()
        generation = index.generation
        index.save(self.dir / "bm25")
        if self._dense is not None:
            self._dense.written(generation)
        self._bm25 = index

    def _write_meta(self, meta: dict) -> None:
        tmp = self.dir / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        os.replace(tmp, self.dir / "meta.json")
        self.meta = meta

    def drop(self) -> None:
        """Delete the collection: its vectors, passage table and BM25 index."""
        with self._writing():
            try:
                store = ChromaStore(self.name, path=self.store_dir / "chroma", url=self.chroma_url, create=False)
            except CollectionNotFound:
                pass
            else:
                try:
                    store.drop()
                finally:
                    store.close()
            self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def close(self) -> None:
        """Close the passage table and this collection's use of the shared Chroma client (others keep it)."""
        if self._dense is not None:
            self._dense.close()
        with self.table.lock:
            if self._closed:
                return
            model = self.model
            self._closed = True
            self.meta = {**self.meta, "model": model}
            self.table.close()
