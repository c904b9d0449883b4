"""Tables in a PDF's text layer, kept as Markdown tables (pdfplumber's ruled-table finder), the rest of the page
as text. pdfplumber lays a page out 20-30x slower than pypdf reads it, so only pages that draw lines or
rectangles (a ruled table's grid) go to it, at most `MAX_PAGES` of a file within `SECONDS`; a table without
rules stays in its page's text."""

from __future__ import annotations

import io
import logging
import re
import time
from typing import Any, Sequence

from .base import Unit
from .tables import clean_rows, table_units

logger = logging.getLogger(__name__)

MAX_PAGES = 100  # pages of one file whose tables are looked for
SECONDS = 30.0  # and the time that may take
# path-painting operators of a content stream: a rectangle (`re`) or a line to (`l`)
_DRAWS = re.compile(rb"(?:^|\s)(?:re|l)\s")


def draws_lines(page: Any) -> bool:
    """Whether a pypdf page's content stream draws rectangles or lines: the cheap test for a ruled table."""
    contents = page.get_contents()
    return contents is not None and _DRAWS.search(contents.get_data()) is not None


def page_tables(data: bytes, pages: Sequence[int], title: str) -> tuple[dict[int, list[Unit]], list[str]]:
    """For each of `pages` (numbers from 1) that holds a ruled table: its units (the text outside the tables,
    then each table as Markdown pieces, all with the page number); with warnings for pages not examined."""
    import pdfplumber
    from pdfplumber.utils.exceptions import MalformedPDFException, PdfminerException

    out: dict[int, list[Unit]] = {}
    warnings: list[str] = []
    started = time.perf_counter()
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            for i, number in enumerate(pages[:MAX_PAGES]):
                if time.perf_counter() - started > SECONDS:
                    warnings.append(
                        f"tables of {len(pages) - i} page(s) from page {number} on kept as text "
                        f"(looking for tables took over {SECONDS:.0f} s)"
                    )
                    break
                units = _page_units(pdf.pages[number - 1], number, title)
                if units is not None:
                    out[number] = units
    except (
        PdfminerException,
        MalformedPDFException,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        AttributeError,
        RecursionError,
    ) as exc:  # pdfminer on a file pypdf could read: keep pypdf's text
        logger.warning("pdf tables: %s: %s", type(exc).__name__, exc)
        warnings.append(f"tables kept as text: the page layout could not be read ({type(exc).__name__})")
    if len(pages) > MAX_PAGES:
        warnings.append(
            f"tables of {len(pages) - MAX_PAGES} page(s) after the first {MAX_PAGES} with ruled lines kept as text"
        )
    return out, warnings


def _page_units(page: Any, number: int, title: str) -> list[Unit] | None:
    tables = []
    for table in page.find_tables():
        rows = clean_rows(table.extract())
        if len(rows) >= 2 and len(rows[0]) >= 2:  # a header and a row, two columns: a table, not a box
            tables.append((table.bbox, rows))
    if not tables:
        return None
    boxes = [bbox for bbox, _ in tables]
    outside = page.filter(lambda obj: not _inside(obj, boxes)).extract_text() or ""
    units = [Unit(title, outside, {"page": number})] if outside.strip() else []
    for _, rows in tables:
        units += table_units(rows, title, {"page": number})
    return units


def _inside(obj: dict, boxes: list[tuple[float, float, float, float]]) -> bool:
    if "x0" not in obj or "top" not in obj:
        return False
    x, y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)
