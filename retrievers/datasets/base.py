"""The dataset types every format loads into, its error, and the reading helpers the formats share: JSON and
JSON-lines files read with errors that name the line, fields checked with errors that name their JSON path."""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..answer_text import first_time, normalize
from ..errors import RagError

FORMATS = ("nq-open", "squad", "beir", "llamaindex")

MISSING: Any = object()
_KIND_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


class DatasetError(RagError):
    """An evaluation dataset that cannot be read; the message names the file, and the line or field where known."""


@dataclass(frozen=True)
class Document:
    """A passage of a dataset's own corpus (a SQuAD paragraph, a BEIR document, a LlamaIndex reference context)."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class EvalQuestion:
    """A question with what counts as right: answer strings, relevant documents (id -> grade), a reference answer."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold: Mapping[str, int] = field(default_factory=dict)
    reference_answer: str | None = None
    spans: tuple[tuple[str, int], ...] = ()  # SQuAD: each distinct (answer text, answer_start) in its document


@dataclass
class EvalDataset:
    """The usable questions of a dataset, its own documents, and what was left out by reason (reason -> count)."""

    name: str
    format: str
    path: str
    questions: list[EvalQuestion]
    documents: list[Document] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


def read_json(path: Path) -> Any:
    """A whole JSON file; bad UTF-8 or bad JSON is an error naming the line and column."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: not valid UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line of a UTF-8 file (BOM tolerated); bad UTF-8 names its line."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"{path}, line {number}, byte {exc.start + 1}: not valid UTF-8") from None
            if line.strip():
                yield number, line


def jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file; a bad line is an error naming it."""
    for number, line in lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}, line {number}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}, line {number}: expected a JSON object")
        yield number, record


def expect(value: Any, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """`value` if it is of `kind`; otherwise an error naming the file and the place (a line and field, a JSON path)."""
    if value is MISSING:
        raise DatasetError(f"{path}, {where}: missing")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or isinstance(value, bool):
        wanted = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise DatasetError(f"{path}, {where}: expected {wanted}, got {type(value).__name__}")
    return value


def admit(question: str, seen: set[str]) -> str | None:
    """Why a question is left out (empty, or a repeat compared normalised), or None to keep it."""
    if not normalize(question).strip():
        return "empty question"
    if not first_time(question, seen):
        return "duplicate question"
    return None


def unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
