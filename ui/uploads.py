"""Uploaded files: checked (count, size, type), given safe names, and kept under the store.

Files are saved to `STORE/uploads/COLLECTION/NAME`, so uploading a file again under the same name
updates its passages rather than adding a second copy. A name is reduced to its last component
and to safe characters: no path traversal, no hidden files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

from rag.loaders import SUPPORTED_TYPES

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


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


def safe_name(name: str) -> str:
    """The file's own name (no folders), with only letters, digits, '.', '_', '-' and spaces."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if not cleaned or cleaned.startswith("."):
        raise UploadRejected(f"unusable file name {name!r}")
    return cleaned[:200]


def check_type(name: str, limits: Limits) -> None:
    suffix = Path(name).suffix.lower()
    if suffix not in limits.types:
        raise UploadRejected(f"{name}: unsupported file type {suffix or '(none)'!r}; "
                             f"supported: {', '.join(limits.types)}", 415)


def save_uploads(files: Iterable[tuple[str, BinaryIO]], folder: Path, limits: Limits) -> list[Path]:
    """Write each `(name, stream)` into `folder`; all-or-nothing: a broken limit leaves no file behind."""
    files = list(files)
    if not files:
        raise UploadRejected("no files in the upload")
    if len(files) > limits.max_files:
        raise UploadRejected(f"{len(files)} files in one upload; the limit is {limits.max_files}", 413)
    names = [safe_name(name) for name, _ in files]
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
