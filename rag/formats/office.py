"""Word (.docx) and PowerPoint (.pptx) files through python-docx and python-pptx.

A Word file becomes a unit per section, each under its heading (kept as `heading` metadata and as the
section's first line), and its tables become Markdown tables; a deck becomes a unit per slide (`slide`
metadata: its title, text, tables and notes). Macros are never run: only the XML text is read.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Iterator

from .archives import check_zip
from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, Unit, one_line
from .tables import clean_rows, table_units

logger = logging.getLogger(__name__)

# what python-docx and python-pptx raise on a damaged part (lxml's errors are ValueErrors or SyntaxErrors)
_DAMAGED = (KeyError, ValueError, TypeError, AttributeError, IndexError, SyntaxError, OSError, EOFError)


def read_docx(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    import docx

    check_zip(data, ".docx")
    try:
        document = docx.Document(io.BytesIO(data))
        title = one_line(document.core_properties.title or "") or path.stem
        return Parsed(list(_docx_units(document, title)))
    except LoadError:
        raise
    except _DAMAGED as exc:
        raise LoadError(f"not a readable Word file ({type(exc).__name__}: {str(exc)[:120]})") from None


def _docx_units(document: Any, title: str) -> Iterator[Unit]:
    from docx.table import Table

    heading, lines = "", []

    def section() -> Iterator[Unit]:
        text = "\n".join(lines).strip()
        if text:
            yield Unit(title, text, {"heading": heading} if heading else {})

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            yield from section()
            lines = []
            rows = clean_rows([cell.text for cell in row.cells] for row in block.rows)
            yield from table_units(rows, title, {"heading": heading} if heading else {}, caption=heading)
            continue
        text = block.text.strip()
        style = (block.style.name if block.style is not None else "") or ""
        if text and (style.startswith("Heading") or style == "Title"):
            yield from section()
            heading, lines = one_line(text), [text]
        elif text:
            lines.append(text)
    yield from section()


def read_pptx(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    from pptx import Presentation

    check_zip(data, ".pptx")
    try:
        deck = Presentation(io.BytesIO(data))
        title = one_line(deck.core_properties.title or "") or path.stem
        units: list[Unit] = []
        for number, slide in enumerate(deck.slides, start=1):
            units += _slide_units(slide, number, title)
        return Parsed(units)
    except LoadError:
        raise
    except _DAMAGED as exc:
        raise LoadError(f"not a readable PowerPoint file ({type(exc).__name__}: {str(exc)[:120]})") from None


def _slide_units(slide: Any, number: int, title: str) -> list[Unit]:
    """A slide's text (its title first) as one unit, and each of its tables as Markdown table units."""
    lines, tables = [], []
    heading = slide.shapes.title.text.strip() if slide.shapes.title is not None else ""
    for shape in _shapes(slide.shapes):
        if getattr(shape, "has_table", False):
            tables.append(clean_rows([cell.text for cell in row.cells] for row in shape.table.rows))
        elif getattr(shape, "has_text_frame", False) and shape.text_frame.text.strip():
            lines.append(shape.text_frame.text.strip())
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = slide.notes_slide.notes_text_frame.text.strip()
        if notes:
            lines.append(f"Notes: {notes}")
    meta = {"slide": number, **({"heading": one_line(heading)} if heading else {})}
    units = [Unit(title, "\n".join(lines), meta)] if lines else []
    for rows in tables:
        units += table_units(rows, title, meta, caption=one_line(heading))
    return units


def _shapes(shapes: Any) -> Iterator[Any]:
    """Every shape, those inside groups too, in the slide's order."""
    for shape in shapes:
        if getattr(shape, "shape_type", None) is not None and hasattr(shape, "shapes"):  # a group
            yield from _shapes(shape.shapes)
        else:
            yield shape
