"""Metadata filters: which passages a search may return, decided before any scoring.

A filter is a list of conditions on a passage's metadata (its `source`, `title`, `type` (the file's
suffix), `page`, `heading`, `slide`, `sheet`, a JSON record's own fields, front matter, `--meta` values),
joined by AND (or OR). The same filter is written three ways: `--where 'source=docs/*' --where
'year>=2020'` on the command line, a `filters` object in the API (LlamaIndex's `MetadataFilters` JSON), and
LlamaIndex's `MetadataFilters` itself. A collection evaluates it over its passages' metadata
(`retrievers.stores.FilterIndex`), which gives the ids a search may return; the dense store and BM25 then
score only those, so a filtered-out passage is never returned, not even with score 0.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import operator
import re
from dataclasses import dataclass
from typing import Any, Sequence

from .errors import RagError
from .passages import MetadataValue

OPERATORS = ("==", "!=", ">", ">=", "<", "<=", "in", "nin", "glob")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]{0,63})\s*(==|!=|>=|<=|=|>|<)\s*(.*?)\s*$", re.DOTALL)
_GLOB_CHARS = re.compile(r"[*?\[]")
MAX_CONDITIONS = 32
MAX_VALUES = 1000  # values of one `in` / `nin` list
MAX_EXPRESSION_CHARS = 2000


class FilterError(RagError):
    """A filter that cannot be understood: the message says which part and why."""


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    value: MetadataValue | tuple[MetadataValue, ...]

    def test(self, value: MetadataValue | None) -> bool:
        """Whether a passage whose `key` is `value` (None: it has none) meets this condition. Values compare only
        with values of their kind (numbers, texts, true/false): `year>=2020` never matches the text "2021"."""
        if self.op == "glob":
            if not isinstance(value, str):
                return False
            return _glob(str(self.value), self.key == "source").match(value) is not None
        if self.op in ("in", "nin"):
            found = any(_same(value, v) for v in self.value)  # type: ignore[union-attr]
            return found if self.op == "in" else not found
        if self.op == "==":
            return _same(value, self.value)
        if self.op == "!=":
            return not _same(value, self.value)
        if _kind(value) != _kind(self.value) or _kind(value) not in ("number", "text"):
            return False
        return _ORDER[self.op](value, self.value)


@dataclass(frozen=True)
class Filters:
    """Conditions that a passage's metadata must all meet (`any_of`: at least one)."""

    conditions: tuple[Condition, ...]
    any_of: bool = False

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def to_dict(self) -> dict:
        """LlamaIndex's `MetadataFilters` JSON (`glob` is ours)."""
        return {
            "condition": "or" if self.any_of else "and",
            "filters": [
                {"key": c.key, "operator": c.op, "value": list(c.value) if isinstance(c.value, tuple) else c.value}
                for c in self.conditions
            ],
        }


NO_FILTERS = Filters(())


def typed(text: str) -> MetadataValue:
    """A value as written on a command line: a whole number, a decimal, true/false, else the text itself."""
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_where(expressions: Sequence[str]) -> Filters:
    """`--where` expressions, all to be met: `key=value` (a value with `*`, `?` or `[` is a glob), `key!=value`,
    `key>=n` (and `>`, `<`, `<=`), `key=a|b` for any of several values."""
    conditions = []
    for expression in expressions:
        if not isinstance(expression, str) or len(expression) > MAX_EXPRESSION_CHARS:
            raise FilterError(
                f"filter expressions (--where): each is a text of at most {MAX_EXPRESSION_CHARS} characters"
            )
        match = _WHERE.match(expression)
        if match is None:
            raise FilterError(
                f"filter {expression[:80]!r}: expected KEY=VALUE, KEY!=VALUE, KEY>=N, KEY<=N, KEY>N or "
                "KEY<N (KEY: letters, digits, '_', '.', '-')"
            )
        key, op, raw = match.groups()
        if op in _ORDER and not raw:
            raise FilterError(f"filter {expression[:80]!r}: {key}{op} needs a value to compare with")
        if raw[:1] in ("<", ">", "=", "!"):  # `year>>3`, `year=>3`: a mistyped operator, not a value
            raise FilterError(
                f"filter {expression[:80]!r}: the value {raw[:40]!r} starts with an operator; write one of "
                f"{key}=V, {key}!=V, {key}>=N, {key}<=N, {key}>N, {key}<N"
            )
        if op in ("=", "==") and "|" in raw:
            conditions.append(_condition(key, "in", [typed(v) for v in raw.split("|")]))
        elif op in ("=", "==") and _GLOB_CHARS.search(raw):
            conditions.append(_condition(key, "glob", raw))
        else:
            conditions.append(_condition(key, "==" if op == "=" else op, typed(raw)))
    return _filters(conditions, any_of=False)


def from_json(data: Any) -> Filters:
    """The API's `filters`: `{"filters": [{"key", "value", "operator"}], "condition": "and" | "or"}` (LlamaIndex's
    `MetadataFilters` JSON), or a bare list of conditions."""
    if data is None:
        return NO_FILTERS
    if isinstance(data, list):
        data = {"filters": data}
    if not isinstance(data, dict) or not isinstance(data.get("filters", []), list):
        raise FilterError('filters: expected {"filters": [{"key", "value", "operator"}, ...], "condition": "and"}')
    condition = str(data.get("condition") or "and").lower()
    if condition not in ("and", "or"):
        raise FilterError(f"filters: condition must be 'and' or 'or', not {condition!r}")
    conditions = []
    for item in data.get("filters", []):
        if not isinstance(item, dict) or "key" not in item or "value" not in item:
            raise FilterError(f"filters: each filter needs a key and a value: {json.dumps(item)[:120]}")
        if "filters" in item:
            raise FilterError("filters: nested filter groups are not supported")
        conditions.append(_condition(item["key"], str(item.get("operator") or "=="), item["value"]))
    return _filters(conditions, any_of=condition == "or")


def from_llamaindex(filters: Any) -> Filters:
    """LlamaIndex's `MetadataFilters` (its operators' values are the JSON operators)."""
    if filters is None:
        return NO_FILTERS
    items = []
    for f in filters.filters:
        if hasattr(f, "filters"):
            raise FilterError("MetadataFilters: nested filter groups are not supported")
        op = getattr(f.operator, "value", f.operator)
        items.append({"key": f.key, "value": f.value, "operator": op})
    condition = getattr(filters.condition, "value", filters.condition) or "and"
    return from_json({"filters": items, "condition": condition})


def as_filters(value: Any) -> Filters:
    """Any way of writing a filter as `Filters`: ours, LlamaIndex's `MetadataFilters`, its JSON (the API's
    `filters`), `--where` expressions, or None for none."""
    if value is None:
        return NO_FILTERS
    if isinstance(value, Filters):
        return value
    if isinstance(value, dict):
        return from_json(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return parse_where(value)
    if isinstance(value, list):
        return from_json(value)
    if hasattr(value, "filters") and hasattr(value, "condition"):
        return from_llamaindex(value)
    raise FilterError(
        f"filters: cannot use a {type(value).__name__}; give MetadataFilters, their JSON or KEY=VALUE expressions"
    )


def _filters(conditions: list[Condition], any_of: bool) -> Filters:
    if len(conditions) > MAX_CONDITIONS:
        raise FilterError(f"{len(conditions)} filter conditions; at most {MAX_CONDITIONS}")
    return Filters(tuple(conditions), any_of)


def _condition(key: Any, op: str, value: Any) -> Condition:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise FilterError(f"filter key {str(key)[:80]!r}: letters, digits, '_', '.' and '-', at most 64")
    if op not in OPERATORS:
        raise FilterError(f"filter operator {op[:20]!r} on {key!r}: supported are {', '.join(OPERATORS)}")
    if op in ("in", "nin"):
        if not isinstance(value, list | tuple) or not value or len(value) > MAX_VALUES:
            raise FilterError(f"filter {key!r} {op}: expected a list of 1 to {MAX_VALUES} values")
        values = tuple(_scalar(key, v) for v in value)
        return Condition(key, op, values)
    value = _scalar(key, value)
    if op == "glob" and not isinstance(value, str):
        raise FilterError(f"filter {key!r} glob: expected a text pattern such as 'docs/*'")
    if op in (">", ">=", "<", "<=") and isinstance(value, bool):
        raise FilterError(f"filter {key!r} {op}: expected a number or a text, not {value!r}")
    return Condition(key, op, value)


def _scalar(key: str, value: Any) -> MetadataValue:
    if isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 1000):
        return value
    raise FilterError(f"filter {key!r}: values are numbers, true/false or texts of at most 1,000 characters")


@functools.lru_cache(maxsize=64)
def _glob(pattern: str, path: bool) -> re.Pattern[str]:
    """A glob as a regex; a relative path pattern also matches under any folder of that name ('docs/*')."""
    regex = fnmatch.translate(pattern)
    if path and not pattern.startswith(("/", "*")):
        regex = f"(?:{regex}|{fnmatch.translate('*/' + pattern)})"
    return re.compile(regex, re.DOTALL)


def _kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else None


def _same(a: object, b: object) -> bool:
    return _kind(a) == _kind(b) and a == b


_ORDER = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def file_type(source: str | None) -> str:
    """A source's file type as filters name it: its suffix in lower case without the dot ("pdf"), or ""."""
    name = (source or "").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[1].lower() if "." in name.strip(".") else ""
