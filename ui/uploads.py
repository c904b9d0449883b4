"""Uploaded files: checked (count, size, type), given safe names, kept under the store and ingested.

`upload_and_ingest` is the one path from an upload to searchable passages, for the API's `/v1/ingest`
and the UI's Documents tab alike.

Files are saved to `STORE/uploads/COLLECTION/NAME`, so uploading a file again under the same name
updates its passages rather than adding a second copy. A name is reduced to its last component
and to letters (any script), digits and `._- `: no path traversal, no hidden files. A name that
had to change gets a short hash of the original, so `a?.txt` and `a*.txt` stay two files, and two
files of one upload never share a name.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

from rag.config import Settings
from rag.documents.loaders import SUPPORTED_TYPES
from rag.documents.pipeline import IngestReport, ingest
from rag.formats.metadata import parse_meta
from retrievers.errors import RagError
from retrievers.stores import validate_collection_name

_KEPT = "._- "


class UploadRejected(ValueError):
    """An upload that breaks a limit; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_files: int
    types: tuple[str, ...] = SUPPORTED_TYPES

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(int(settings.upload_max_mb * (1 << 20)), settings.upload_max_files)


def _suffixed(name: str, tag: str) -> str:
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}-{tag}.{suffix}" if dot and stem else f"{name}-{tag}"


def safe_name(name: str) -> str:
    """The file's own name (no folders): letters of any script, digits, '.', '_', '-' and spaces, NFC-normalised;
    when anything had to change, a hash of the original keeps distinct names distinct."""
    base = unicodedata.normalize("NFC", re.split(r"[\\/]", name or "")[-1])
    cleaned = "".join(ch if ch.isalnum() or ch in _KEPT else "_" for ch in base).strip(" .")
    if not cleaned or cleaned.startswith(".") or not any(ch.isalnum() for ch in cleaned):
        raise UploadRejected(f"unusable file name {name!r}")
    if cleaned != base:
        cleaned = _suffixed(cleaned[:180], hashlib.sha256(base.encode("utf-8", "surrogatepass")).hexdigest()[:8])
    return cleaned[:200]


def distinct_names(names: list[str]) -> list[str]:
    """Safe names for one upload's files, numbered where two would be the same (case-insensitively)."""
    out: list[str] = []
    taken: set[str] = set()
    for name in names:
        candidate, n = safe_name(name), 1
        while candidate.lower() in taken:
            n += 1
            candidate = _suffixed(safe_name(name), str(n))
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def check_type(name: str, limits: Limits) -> None:
    suffix = Path(name).suffix.lower()
    if suffix not in limits.types:
        raise UploadRejected(
            f"{name}: unsupported file type {suffix or '(none)'!r}; supported: {', '.join(limits.types)}", 415
        )


def save_uploads(files: Iterable[tuple[str, BinaryIO]], folder: Path, limits: Limits) -> list[Path]:
    """Write each `(name, stream)` into `folder`; all-or-nothing: a broken limit leaves no file behind."""
    files = list(files)
    if not files:
        raise UploadRejected("no files in the upload")
    if len(files) > limits.max_files:
        raise UploadRejected(f"{len(files)} files in one upload; the limit is {limits.max_files}", 413)
    names = distinct_names([name for name, _ in files])
    for name in names:
        check_type(name, limits)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, (_, stream) in zip(names, files):
            target = folder / name
            tmp = folder / f".{name}.part"
            size = 0
            with tmp.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > limits.max_bytes:
                        limit = f"{limits.max_bytes / (1 << 20):g} MiB"
                        raise UploadRejected(f"{name} is larger than the {limit} limit", 413)
                    out.write(chunk)
            staged.append((tmp, target))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for leftover in folder.glob(".*.part"):
            leftover.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    return [target for _, target in staged]


@dataclass
class Ingested:
    """What an upload became: its collection, the names its files were saved under, the ingest's report."""

    collection: str
    files: list[str]
    report: IngestReport


def upload_folder(settings: Settings, collection: str) -> Path:
    """`STORE/uploads/COLLECTION`, the name checked before any path is built from it and the folder refused
    when it resolves outside the store (a link planted there), so no upload writes anywhere else."""
    try:
        name = validate_collection_name(collection)
    except RagError as exc:
        raise UploadRejected(str(exc)) from None
    uploads = settings.store / "uploads"
    folder = uploads / name
    if not folder.resolve().is_relative_to(uploads.resolve()):
        raise UploadRejected(f"the folder of collection {name!r} is outside the store")
    return folder


def upload_and_ingest(
    settings: Settings,
    files: Iterable[tuple[str, BinaryIO]],
    collection: str,
    *,
    engines: Any,
    record: Callable[[str, str, str, str], Any] | None = None,
    actor: str = "ui",
    limits: Limits | None = None,
    meta: Iterable[str] = (),
) -> Ingested:
    """Save `(name, stream)` uploads under the store (all or nothing), ingest them in one batch, let the
    engines over the collection see the new passages, and record who did it in the audit log. `meta` holds
    `key=value` pairs every passage of the upload gets, as `rag ingest --meta` gives them.

    `UploadRejected` (with the HTTP status to answer) for a bad collection name, metadata pair, file name,
    type, count or size, before any file is kept; files that fail to load, or would pass the upload's
    passage limit (`upload_max_passages`), are listed in the report, per file.
    """
    folder = upload_folder(settings, collection)
    try:
        metadata = parse_meta(pair for pair in meta if pair.strip())
    except RagError as exc:
        raise UploadRejected(str(exc)) from None
    before = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    paths = save_uploads(files, folder, limits or Limits.from_settings(settings))
    report = ingest(
        [str(p) for p in paths],
        settings,
        collection=folder.name,
        progress=False,
        max_passages=settings.upload_max_passages,
        meta=metadata,
    )
    _drop_new_failures(report, [p for p in paths if p.name not in before])
    engines.forget(folder.name)
    if record is not None:  # the audit log's `record`
        keys = f" meta_keys={','.join(metadata)}" if metadata else ""
        record(
            actor,
            "ingest",
            folder.name,
            f"files={','.join(p.name for p in paths)} added={report.added} removed={report.removed}{keys}",
        )
    return Ingested(folder.name, [p.name for p in paths], report)


def _drop_new_failures(report: IngestReport, new: list[Path]) -> None:
    """Delete the files this upload added that could not be ingested: nothing is kept that no search can
    find. A file that replaced an earlier upload of the same name stays (its old passages are kept too)."""
    failed = {Path(path).resolve() for path, _ in report.failed}
    for path in new:
        if path.resolve() in failed:
            path.unlink(missing_ok=True)
