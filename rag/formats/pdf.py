"""PDF: the text layer of each page (pypdf), a unit per page with its number."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from .base import LoadError, Parsed, Unit


def read_pdf(data: bytes, path: Path, max_units: int | None = None) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly on harmless quirks
    if not data.strip():
        raise LoadError("empty file")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF (needs a password)")
        title = str((reader.metadata or {}).get("/Title") or "").strip()
        units = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                units.append(Unit(title, text, {"page": number}))
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError,
            RecursionError, NotImplementedError) as exc:
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # pypdf raises many types on damaged files; never let one escape
        if "crypt" in str(exc).lower():
            raise LoadError("encrypted PDF that cannot be opened") from None
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not units:
        raise LoadError("PDF has no extractable text (scanned images?)")
    return Parsed(units)
