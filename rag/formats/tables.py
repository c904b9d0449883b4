"""Tables as Markdown: a long table is cut by rows into passages that each repeat the header row, so every
passage is a readable, citable table on its own."""

from __future__ import annotations

from typing import Iterable, Sequence

from retrievers.passages import MetadataValue

from .base import Unit

TABLE_WORDS = 100  # about one DPR passage of cells per piece, the header included
MAX_COLUMNS = 200  # columns kept of a row; the rest are dropped (a sheet's stray far-right cell)


def cell_text(value: object) -> str:
    """A cell on one line, with the characters that would break a Markdown table escaped."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def clean_rows(rows: Iterable[Sequence[object]]) -> list[list[str]]:
    """Rows of any values as cell texts (`cell_text`), made `rectangular`."""
    return rectangular([cell_text(v) for v in row[:MAX_COLUMNS]] for row in rows)


def rectangular(rows: Iterable[list[str]]) -> list[list[str]]:
    """Rows of cell texts with empty rows dropped, at most `MAX_COLUMNS` cells, trailing empty columns trimmed
    and short rows padded, so every row has the table's width."""
    out, width = [], 0
    for row in rows:
        n = min(len(row), MAX_COLUMNS)
        if n and row[n - 1]:  # the common row: nothing to trim
            out.append(row if n == len(row) else row[:n])
        else:
            while n and not row[n - 1]:
                n -= 1
            if not n:
                continue
            out.append(row[:n])
        width = max(width, n)
    return [row + [""] * (width - len(row)) if len(row) < width else row for row in out]


def markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table_units(
    rows: Sequence[Sequence[str]],
    title: str,
    extra: dict[str, MetadataValue] | None = None,
    caption: str = "",
    first_row: int = 1,
) -> list[Unit]:
    """`rows` (the first is the header) as whole units of about `TABLE_WORDS` words, each a Markdown table with the
    header repeated, under an optional caption line; `rows` metadata says which rows (numbered from `first_row`,
    the header's) each holds."""
    if not rows:
        return []
    head = "\n".join(filter(None, [caption, markdown_row(rows[0]), markdown_row(["---"] * len(rows[0]))]))
    head_words = len(head.split())
    lines = [markdown_row(r) for r in rows[1:]]
    words = [len(line.split()) for line in lines]
    units: list[Unit] = []
    start = 0
    while True:
        end, total = start, head_words
        while end < len(lines) and (end == start or total + words[end] <= TABLE_WORDS):
            total += words[end]
            end += 1
        span = f"{first_row + start + 1}-{first_row + end}" if end > start else f"{first_row}"
        units.append(Unit(title, "\n".join([head, *lines[start:end]]), {**(extra or {}), "rows": span}, whole=True))
        if end >= len(lines):
            return units
        start = end
