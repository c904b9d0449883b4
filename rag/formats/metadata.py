"""A document's own metadata, as passages keep it: Markdown front matter, a JSON record's other fields, and
`rag ingest --meta key=value`. Every passage of the document gets it, filters test it (`--where year>=2020`),
and Chroma stores it beside the vector, so only flat values are kept: numbers, true/false, texts (a list of
them becomes one text, "a, b"; a date its ISO form). Anything else is left out with a warning."""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Iterable, Mapping

import yaml

from retrievers.errors import RagError
from retrievers.filters import typed
from retrievers.passages import MetadataValue

MAX_KEYS = 32
MAX_VALUE_CHARS = 1000
FRONT_MATTER_BYTES = 64 * 1024
# what a passage's place and identity are made of: a document cannot set them
RESERVED = frozenset({"title", "source", "position", "type", "id", "doc_id"})
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)


def flat_value(value: Any) -> MetadataValue | None:
    """`value` as metadata can hold it, or None when it cannot (a mapping, a nested list, NaN)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:MAX_VALUE_CHARS]
    if isinstance(value, datetime.date):  # a datetime too
        return value.isoformat()
    if isinstance(value, list | tuple) and value and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)[:MAX_VALUE_CHARS]
    return None


def user_metadata(items: Iterable[tuple[Any, Any]], where: str) -> tuple[dict[str, MetadataValue], list[str]]:
    """The keys and values a document may set, with one warning naming each kind of thing left out."""
    kept: dict[str, MetadataValue] = {}
    dropped: dict[str, list[str]] = {}
    for key, value in items:
        name = str(key)[:64]
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            dropped.setdefault("keys are letters, digits, '_', '.', '-'", []).append(name)
        elif key in RESERVED:
            dropped.setdefault("reserved", []).append(key)
        elif (flat := flat_value(value)) is None:
            dropped.setdefault("not a number, text, date or list of them", []).append(key)
        elif len(kept) >= MAX_KEYS:
            dropped.setdefault(f"more than {MAX_KEYS} fields", []).append(key)
        else:
            kept[key] = flat
    warnings = [
        f"{where}: left out {', '.join(repr(k) for k in keys[:5])}{' …' if len(keys) > 5 else ''} ({why})"
        for why, keys in dropped.items()
    ]
    return kept, warnings


def split_front_matter(text: str) -> tuple[Mapping[str, Any] | None, str, list[str]]:
    """A Markdown file's YAML front matter (`---` lines around it, first thing in the file) and the text after
    it. Front matter that is not a YAML mapping stays in the text, with a warning."""
    if not text.startswith("---"):
        return None, text, []
    match = _FRONT.match(text[:FRONT_MATTER_BYTES])
    if match is None:
        return None, text, []
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 2})" if mark is not None else ""
        return None, text, [f"front matter is not valid YAML{line}: kept as text"]
    except RecursionError:
        return None, text, ["front matter nested too deeply: kept as text"]
    if data is None:
        return {}, text[match.end() :], []
    if not isinstance(data, dict):
        return None, text, ["front matter is not a YAML mapping of keys to values: kept as text"]
    return data, text[match.end() :], []


def parse_meta(pairs: Iterable[str]) -> dict[str, MetadataValue]:
    """`--meta key=value` options: numbers and true/false typed as `--where` types them."""
    meta: dict[str, MetadataValue] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise RagError(f"--meta {pair[:80]!r}: expected KEY=VALUE (KEY: letters, digits, '_', '.', '-')")
        if key in RESERVED:
            raise RagError(f"--meta {key}: reserved ({', '.join(sorted(RESERVED))} are set by the ingest itself)")
        if len(value) > MAX_VALUE_CHARS:
            raise RagError(f"--meta {key}: at most {MAX_VALUE_CHARS} characters")
        meta[key] = typed(value.strip())
    if len(meta) > MAX_KEYS:
        raise RagError(f"--meta: at most {MAX_KEYS} keys")
    return meta
