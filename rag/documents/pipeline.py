"""Ingestion: inputs -> passages -> a collection (dense vectors in Chroma, BM25), incrementally.

Unchanged files are skipped by content hash, unchanged passages are never re-encoded, a changed
file's stale passages are removed, and a file that fails keeps whatever it had indexed before.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from rag.config import Settings
from rag.retrieval import check_encoder
from retrievers.encoders import close_encoder, load_encoder, opened_encoder
from retrievers.encoders.precomputed import PrecomputedEncoder
from retrievers.errors import CollectionNotFound
from retrievers.passages import MetadataValue, Passage, make_passages, text_digest
from retrievers.stores import Collection, SourceUpdate

from .compaction import compaction_advice
from .loaders import BUILTIN_CORPORA, Input, LoadedSource, LoadError, TooManyPassages, discover, load

logger = logging.getLogger(__name__)


@dataclass
class IngestReport:
    collection: str
    files_read: int = 0
    files_unchanged: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    total_passages: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    unsupported_skipped: int = 0
    sources_pruned: int = 0
    # with --vectors: passages whose vectors came from the shards, and those encoded here
    vectors: dict[str, int] = field(default_factory=dict)
    # seconds per step: "parse" (reading and splitting), then the collection's "encode", "store", "table", "bm25"
    timings: dict[str, float] = field(default_factory=dict)
    # each input as given: (its name, "indexed" / "unchanged" / "failed", its passages now indexed)
    per_file: list[tuple[str, str, int]] = field(default_factory=list)
    advice: str | None = None  # `rag compact`, once enough of the collection was deleted or replaced

    @property
    def ok(self) -> bool:
        """False when nothing could be ingested or confirmed up to date."""
        return bool(self.files_read or self.files_unchanged) or not self.failed

    def to_dict(self) -> dict:
        data = asdict(self)
        data["failed"] = [{"path": p, "reason": r} for p, r in self.failed]
        data["warnings"] = [{"path": p, "warning": w} for p, w in self.warnings]
        data["per_file"] = [{"path": p, "status": s, "passages": n} for p, s, n in self.per_file]
        return data

    def summary(self) -> str:
        lines = [
            f"collection {self.collection}: {self.total_passages} passages",
            f"files: {self.files_read} read, {self.files_unchanged} unchanged, {len(self.failed)} failed"
            + (f", {self.unsupported_skipped} of unsupported types skipped" if self.unsupported_skipped else ""),
            f"passages: {self.added} added, {self.unchanged} unchanged, {self.removed} removed"
            + (f" ({self.sources_pruned} vanished files pruned)" if self.sources_pruned else ""),
        ]
        if self.vectors:
            lines.append(
                f"vectors: {self.vectors['reused']} from {self.vectors['shards']} precomputed shards, "
                f"{self.vectors['encoded']} encoded here"
            )
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        lines += [f"  warning: {path}: {warning}" for path, warning in self.warnings]
        lines += [f"advice: {self.advice}"] if self.advice else []
        return "\n".join(lines)


def default_ingest_collection(paths: Sequence[str]) -> str:
    """A built-in corpus ingested alone goes to a collection of its own name; anything else to `default`."""
    return paths[0] if len(paths) == 1 and paths[0] in BUILTIN_CORPORA else "default"


def passages_of(
    item: Input, loaded: LoadedSource, settings: Settings, meta: Mapping[str, MetadataValue] | None = None
) -> list[Passage]:
    """The passages one loaded input makes under the passage settings (records stay whole by default), each
    with `meta` (`rag ingest --meta`) over the document's own metadata."""
    words = 0 if loaded.records and not settings.split_records else settings.passage_words
    meta = meta or {}
    return make_passages(item.source, [(u.title, u.text, {**u.extra, **meta}, u.whole) for u in loaded.units], words)


def read_passages(
    item: Input,
    settings: Settings,
    *,
    known: Callable[[str], bool] = lambda signature: False,
    max_passages: int | None = None,
    meta: Mapping[str, MetadataValue] | None = None,
) -> tuple[LoadedSource, list[Passage]] | None:
    """One input read and split into its passages (None when `known` says its content is indexed already);
    past `max_passages` it raises `TooManyPassages`, and a records file stops being read there."""
    loaded = load(item, known, settings.read_limits(max_passages))
    if loaded is None:
        return None
    passages = passages_of(item, loaded, settings, meta)
    if max_passages is not None and len(passages) > max_passages:
        raise TooManyPassages(max_passages)
    return loaded, passages


def ingest(
    paths: Sequence[str],
    settings: Settings,
    *,
    collection: str | None = None,
    prune: bool = False,
    progress: bool = True,
    vectors: str | Path | None = None,
    max_passages: int | None = None,
    meta: Mapping[str, MetadataValue] | None = None,
) -> IngestReport:
    """Ingest files, folders and built-in corpora into a collection (created when needed).

    `vectors` is a folder of passage vectors encoded ahead by `rag encode` shards: passages found
    there are not encoded again. `max_passages` bounds the passages the files read may make together
    (uploads): a file that would pass it is refused whole with `TooManyPassages`, the others go on.
    `meta` is metadata every passage of these inputs gets (`--meta year=2021`); re-ingesting with other
    metadata relabels the passages without encoding them again.
    """
    name = collection or settings.collection or default_ingest_collection(paths)
    report = IngestReport(collection=name)
    found = discover(paths)
    report.failed.extend(found.failures)
    report.per_file.extend((path, "failed", 0) for path, _ in found.failures)
    report.unsupported_skipped = found.unsupported
    created = False
    try:
        coll = Collection(name, settings.store, chroma_url=settings.chroma_url)
    except CollectionNotFound:
        if not found.inputs:
            return report
        coll = Collection(name, settings.store, chroma_url=settings.chroma_url, create=True)
        created = True
    try:
        return _ingest_into(
            coll,
            found.inputs,
            found.folders,
            settings,
            report,
            prune,
            progress,
            vectors,
            max_passages,
            dict(meta or {}),
        )
    except BaseException:
        if created and coll.count() == 0:  # leave no empty shell behind when the first ingest fails
            coll.close()
            shutil.rmtree(coll.dir, ignore_errors=True)
        raise
    finally:
        coll.close()


def _ingest_into(
    coll: Collection,
    inputs: list[Input],
    folders: list[Path],
    settings: Settings,
    report: IngestReport,
    prune: bool,
    progress: bool,
    vectors: str | Path | None,
    max_passages: int | None,
    meta: dict[str, MetadataValue],
) -> IngestReport:
    coll.recover()
    model = settings.encoder_for(coll.model, builtin=bool(inputs) and all(i.path is None for i in inputs))
    check_encoder(coll, model)  # before any work, not after reading everything
    precomputed = None
    if vectors is not None:
        precomputed = PrecomputedEncoder(
            model, vectors, lambda: load_encoder(model, **settings.passage_encoder_options())
        )
    settings_key = f"w{settings.passage_words}{'s' if settings.split_records else ''}"
    if meta:  # other metadata: the sources are read again and their passages relabelled
        settings_key += "m" + text_digest(json.dumps(meta, sort_keys=True))[:16]
    stored = coll.signatures()
    counts = coll.passage_counts()
    batch = _Batches(coll, settings, report, progress, precomputed, model)
    parsing = 0.0
    budget = max_passages  # passages the files read may still make, when bounded
    try:
        for item in _progress(inputs, progress and len(inputs) > 20, "reading"):
            started = time.perf_counter()
            indexed = counts.get(item.source, 0)  # what this source has in the collection now
            try:
                read = read_passages(
                    item,
                    settings,
                    known=lambda sig, s=item.source: stored.get(s) == f"{sig}:{settings_key}",
                    max_passages=budget,
                    meta=meta,
                )
                if read is None:
                    report.files_unchanged += 1
                    report.unchanged += indexed
                    report.per_file.append((item.display, "unchanged", indexed))
                    continue
                (loaded, passages), read = read, None
                update = SourceUpdate(item.source, f"{loaded.signature}:{settings_key}", passages)
                if budget is not None:
                    budget -= len(passages)
            except LoadError as exc:
                report.failed.append((item.display, str(exc)))
                report.per_file.append((item.display, "failed", indexed))
                continue
            except (RecursionError, MemoryError) as exc:  # one hostile file must not end the whole ingest
                loaded = read = None  # its text goes now, before the next file is read
                reason = too_big_to_read(exc)
                logger.warning("ingest: skipped %s: %s", item.display, reason)
                report.failed.append((item.display, reason))
                report.per_file.append((item.display, "failed", indexed))
                continue
            report.files_read += 1
            report.per_file.append((item.display, "indexed", len(update.passages or ())))
            report.warnings.extend((item.display, w) for w in loaded.warnings)
            loaded = None  # the file's text goes before the batch is written: passages hold copies
            parsing += time.perf_counter() - started
            batch.add(update)
        if prune:
            seen = {item.source for item in inputs}
            for source in stored:
                inside = any(source.startswith(str(folder) + "/") for folder in folders)
                if inside and source not in seen and not Path(source).exists():
                    batch.add(SourceUpdate(source, None, None))
                    report.sources_pruned += 1
        batch.finish()
    finally:
        batch.close()
    report.timings.update({"parse": parsing, **batch.timings})
    report.total_passages = coll.count()
    report.advice = compaction_advice(coll)
    return report


def too_big_to_read(exc: RecursionError | MemoryError) -> str:
    """The reason shown for a file that exhausted the recursion limit or memory while it was read or split."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read (RecursionError)"
    return "too large to read in the memory available (MemoryError)"


class _Batches:
    """Source updates gathered until `settings.ingest_batch` new passages, then written as one update.

    Memory then holds one batch of passages, not the whole ingest; BM25 is rebuilt once, by the
    last write. The encoder is loaded at the first write, so an ingest with nothing new loads none.
    """

    def __init__(
        self,
        coll: Collection,
        settings: Settings,
        report: IngestReport,
        progress: bool,
        precomputed: PrecomputedEncoder | None,
        model: str,
    ) -> None:
        self.coll, self.settings, self.report, self.progress = coll, settings, report, progress
        self.precomputed, self.model = precomputed, model
        self.updates: list[SourceUpdate] = []
        self.passages = 0
        self.encoder = None
        self.written = False
        self.timings: dict[str, float] = {}

    def add(self, update: SourceUpdate) -> None:
        self.updates.append(update)
        self.passages += len(update.passages or ())
        if self.passages >= self.settings.ingest_batch:
            self._write(final=False)

    def finish(self) -> None:
        if self.updates or self.written:
            self._write(final=True)

    def _write(self, final: bool) -> None:
        if self.encoder is None:
            self.encoder = (
                self.precomputed
                if self.precomputed is not None
                else load_encoder(self.model, **self.settings.passage_encoder_options())
            )
        stats = self.coll.update(self.updates, self.encoder, progress=self.progress, index_bm25=final)
        self.updates, self.passages, self.written = [], 0, True
        for step, seconds in stats.timings.items():
            self.timings[step] = self.timings.get(step, 0.0) + seconds
        self.report.added += stats.added
        self.report.unchanged += stats.unchanged
        self.report.removed += stats.removed
        if self.precomputed is not None:
            self.report.vectors = {
                "shards": self.precomputed.shards,
                "reused": self.precomputed.reused,
                "encoded": self.precomputed.encoded,
            }

    def close(self) -> None:
        if self.encoder is not None:
            close_encoder(self.encoder)


def _progress(items: list, enabled: bool, desc: str):  # type: ignore[no-untyped-def]
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="file", file=sys.stderr)


def ingest_records(
    settings: Settings,
    collection: str,
    source: str,
    signature: str,
    records: Sequence[tuple[str, str, dict]],
    *,
    extra_updates: Sequence[SourceUpdate] = (),
    progress: bool = True,
) -> IngestReport:
    """Put ready-made `(title, text, extra)` records into a collection as one source, incrementally.

    Used for an evaluation dataset's own documents: unchanged `signature` means nothing to do.
    Records keep their length unless `split_records` is set, as for JSONL files. `extra_updates`
    are further sources (the passages of another collection, as distractors).
    """
    report = IngestReport(collection=collection)
    coll = Collection(collection, settings.store, chroma_url=settings.chroma_url, create=True)
    try:
        coll.recover()
        model = settings.encoder_for(coll.model)
        check_encoder(coll, model)
        key = f"{signature}:w{settings.passage_words}{'s' if settings.split_records else ''}"
        stored = coll.signatures()
        updates = [u for u in extra_updates if stored.get(u.source) != u.signature or u.signature is None]
        if stored.get(source) != key:
            words = settings.passage_words if settings.split_records else 0
            updates.insert(0, SourceUpdate(source, key, make_passages(source, records, words)))
            report.files_read = 1
        else:
            report.files_unchanged = 1
        if updates:
            with opened_encoder(model, **settings.passage_encoder_options()) as encoder:
                stats = coll.update(updates, encoder, progress=progress)
            report.added, report.unchanged, report.removed = stats.added, stats.unchanged, stats.removed
        report.total_passages = coll.count()
    finally:
        coll.close()
    return report
