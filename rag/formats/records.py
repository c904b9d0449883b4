"""JSON and JSONL records `{"id", "title", "text", ...}`: one unit each, kept whole by default; the record's other
flat fields (`"year": 2021`) become its metadata."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, TooManyPassages, Unit, decode_text
from .metadata import MAX_VALUE_CHARS, user_metadata

logger = logging.getLogger(__name__)


def read_jsonl(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    units, warnings = _read_records(decode_text(data), jsonl=True, max_units=limits.max_units)
    return Parsed(units, warnings, records=True)


def read_json(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    units, warnings = _read_records(decode_text(data), jsonl=False, max_units=limits.max_units)
    return Parsed(units, warnings, records=True)


_TEXT_FIELDS = ("text", "contents", "content", "body")
_ID_FIELDS = ("id", "_id", "docid", "doc_id")
MAX_BAD_LINES = 1000  # skipped lines of a JSONL file before it counts as no records file at all
_TOO_DEEP = "JSON nested too deeply to parse (RecursionError); records are flat objects"


def _record_unit(record: Any, where: str) -> Unit:
    if not isinstance(record, dict):
        raise ValueError(f'{where}: expected an object with a "text" field')
    text = next((record[k] for k in _TEXT_FIELDS if isinstance(record.get(k), str)), None)
    if text is None:
        raise ValueError(f'{where}: no "text" field')
    title = record.get("title")
    own = ((k, v) for k, v in record.items() if k not in _TEXT_FIELDS and k not in _ID_FIELDS and k != "title")
    extra, _ = user_metadata(own, where)  # fields that cannot be metadata (lists of objects) are simply not kept
    doc_id = next((record[k] for k in _ID_FIELDS if record.get(k) not in (None, "")), None)
    if doc_id is not None:
        extra["doc_id"] = str(doc_id)[:MAX_VALUE_CHARS]
    return Unit(str(title) if title is not None else "", text, extra)


class _Skipped:
    """Records skipped, counted, with the first few reasons kept: a file of a million bad lines costs a counter."""

    SHOWN = 3

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def append(self, reason: str) -> None:
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append(reason)

    def __bool__(self) -> bool:
        return self.count > 0

    def __getitem__(self, i: int) -> str:
        return self.first[i]


def _read_records(text: str, jsonl: bool, max_units: int | None = None) -> tuple[list[Unit], list[str]]:
    """Records `{"id", "title", "text"}`: JSONL one per line, or a JSON list / object of them.

    A bad line in JSONL is skipped and reported; the good lines are kept. More than `max_units` records
    raise `TooManyPassages` as soon as the next one is read.
    """
    limit = max_units if max_units is not None else -1
    units: list[Unit] = []
    problems = _Skipped()
    deep = 0  # JSONL lines nested past the recursion limit
    if jsonl:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                units.append(_record_unit(json.loads(line), f"line {number}"))
                if len(units) == limit + 1:
                    raise TooManyPassages(limit)
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: invalid JSON ({exc.msg})")
            except ValueError as exc:
                problems.append(str(exc))
            except RecursionError:
                deep += 1
                problems.append(f"line {number}: {_TOO_DEEP}")
            if problems.count > MAX_BAD_LINES and problems.count > len(units):  # not records: stop reading
                raise LoadError(
                    f"more than {MAX_BAD_LINES} malformed lines, and more than good ones: not a "
                    f"JSONL file of records? (first: {problems[0]})"
                )
        if deep:
            logger.warning("skipped %d JSONL line(s) nested too deeply to parse", deep)
        if problems and not units:
            raise LoadError(f"no valid records; {problems[0]}")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LoadError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise LoadError(_TOO_DEEP) from None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if isinstance(data, dict):
            items = [
                ({"title": key, **value} if isinstance(value, dict) and "title" not in value else value, key)
                for key, value in data.items()
            ]
        elif isinstance(data, list):
            items = [(value, f"item {i}") for i, value in enumerate(data)]
        else:
            raise LoadError('expected a list of records {"id", "title", "text"}')
        for record, where in items:
            try:
                units.append(_record_unit(record, str(where)))
            except ValueError as exc:
                problems.append(str(exc))
            if len(units) == limit + 1:
                raise TooManyPassages(limit)
        if problems and not units:
            raise LoadError(f"no valid records; {problems[0]}")
    warnings = []
    if problems:
        more = problems.count - len(problems.first)
        shown = "; ".join(problems.first) + (f"; and {more} more" if more else "")
        warnings.append(f"{problems.count} record(s) skipped: {shown}")
    return units, warnings
