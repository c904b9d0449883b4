"""A collection's metadata laid out for filtering: for each key, the distinct values and which passage has
which, so a filter is tested once per distinct value (a few hundred sources, not 10,000 passages) and mapped
back to passages with numpy. Built from the passage table once per generation (a write makes a new one)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable

import numpy as np

from ..filters import Filters, file_type
from ..passages import MetadataValue

RECENT = 8  # filters whose ids are kept


class FilterIndex:
    """Rows of `(id, source, title, position, extra)` as filterable columns, built lazily per key."""

    def __init__(self, rows: Iterable[tuple[str, str, str, int, dict[str, MetadataValue]]], generation: int) -> None:
        self.generation = generation
        self._ids: list[str] = []
        self._values: list[dict[str, Any]] = []
        for pid, source, title, position, extra in rows:
            self._ids.append(pid)
            self._values.append({**extra, "source": source, "title": title, "position": position})
        self._id_array = np.array(self._ids, dtype=object)
        self._columns: dict[str, tuple[list[Any], np.ndarray]] = {}
        self._recent: OrderedDict[Filters, list[str]] = OrderedDict()  # a UI's filter is asked again and again

    def _column(self, key: str) -> tuple[list[Any], np.ndarray]:
        """The distinct values of `key` (None where a passage has none) and each passage's index into them."""
        if key not in self._columns:
            distinct: dict[tuple[str, Any], int] = {}
            uniques: list[Any] = []
            inverse = np.empty(len(self._values), dtype=np.int64)
            for i, meta in enumerate(self._values):
                value = file_type(meta["source"]) if key == "type" else meta.get(key)
                marker = (type(value).__name__, value)  # True and 1 stay two values
                if marker not in distinct:
                    distinct[marker] = len(uniques)
                    uniques.append(value)
                inverse[i] = distinct[marker]
            self._columns[key] = (uniques, inverse)
        return self._columns[key]

    def matching(self, filters: Filters) -> list[str]:
        """The ids of the passages whose metadata meets `filters`, in insertion order."""
        if filters in self._recent:
            self._recent.move_to_end(filters)
            return self._recent[filters]
        ids = self._match(filters)
        self._recent[filters] = ids
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        return ids

    def _match(self, filters: Filters) -> list[str]:
        combined = np.zeros(len(self._ids), dtype=bool) if filters.any_of else np.ones(len(self._ids), dtype=bool)
        for condition in filters.conditions:
            uniques, inverse = self._column(condition.key)
            met = np.fromiter((condition.test(v) for v in uniques), dtype=bool, count=len(uniques))[inverse]
            combined = combined | met if filters.any_of else combined & met
        return self._id_array[combined].tolist()
