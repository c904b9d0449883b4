"""PDF: the text layer of each page (pypdf), a unit per page with its number; ruled tables as Markdown tables
(`pdf_tables`); scanned pages through OCR."""

from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import ocr
from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, Unit
from .pdf_tables import draws_lines, page_tables


def read_pdf(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    """Each page's text layer; pages without one (scans) are read by OCR from their largest image."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly on harmless quirks
    if not data.strip():
        raise LoadError("empty file")
    with _damaged_pdf():
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF (needs a password)")
        title = str((reader.metadata or {}).get("/Title") or "").strip()
        units, scanned, ruled = [], [], []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                units.append(Unit(title, text, {"page": number}))
                if draws_lines(page):
                    ruled.append(number)
            else:
                scanned.append(number)
    warnings: list[str] = []
    if ruled:  # a page with a ruled table: its text outside the tables, then each table in Markdown
        tables, warnings = page_tables(data, ruled, title)
        units = [piece for unit in units for piece in tables.get(unit.extra["page"], [unit])]
    if scanned and limits.ocr_pages > 0:
        if not ocr.available():
            if not units:
                raise LoadError(f"PDF has no text layer (a scan?): {ocr.INSTALL}")
            warnings.append(f"{len(scanned)} page(s) without a text layer not read: {ocr.INSTALL}")
        else:
            read, scan_warnings = ocr.ocr_pages(scanned, lambda n: _page_image(reader, n), title or path.stem, limits)
            warnings += scan_warnings
            units = sorted(units + [Unit(title, u.text, u.extra) for u in read], key=lambda u: u.extra["page"])
    if not units:
        raise LoadError("PDF has no extractable text" + (f" ({warnings[0]})" if warnings else " (scanned images?)"))
    return Parsed(units, warnings)


def _page_image(reader: Any, number: int) -> Any:
    """The largest image of page `number`: a scanned page is one picture of the whole page."""
    try:
        with _damaged_pdf():
            images = [image.image for image in reader.pages[number - 1].images]
    except LoadError as exc:  # one damaged image: that page is skipped, not the file
        raise ocr.PageFailed(str(exc)) from None
    images = [image for image in images if image is not None]
    if not images:
        raise ocr.PageFailed("no image on the page")
    return max(images, key=lambda image: image.width * image.height)


@contextmanager
def _damaged_pdf() -> Iterator[None]:
    """pypdf's many error types on a damaged file as one `LoadError`."""
    from pypdf.errors import PdfReadError

    try:
        yield
    except (LoadError, ocr.PageFailed):
        raise
    except (
        PdfReadError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        AttributeError,
        OSError,
        RecursionError,
        NotImplementedError,
    ) as exc:
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # pypdf raises many types on damaged files; never let one escape
        if "crypt" in str(exc).lower():
            raise LoadError("encrypted PDF that cannot be opened") from None
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
