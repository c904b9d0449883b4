"""One reader per file format: `READERS[suffix](data, path, limits)` -> `Parsed` units, or `LoadError`.

Each reader returns text units (a title, the text, metadata such as a page, slide or sheet); the ingest
splits them into passages. `ReadLimits` bound what a reader takes (records, scanned pages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .base import MAX_TITLE, NO_LIMITS, LoadError, Parsed, ReadLimits, TooManyPassages, Unit, decode_text, one_line
from .epub import read_epub
from .html import read_html
from .mail import read_eml
from .ocr import read_image
from .office import read_docx, read_pptx
from .pdf import read_pdf
from .records import read_json, read_jsonl
from .rtf import read_rtf
from .sheets import read_csv, read_xlsx
from .text import read_markdown, read_text

Reader = Callable[[bytes, Path, ReadLimits], Parsed]

READERS: dict[str, Reader] = {
    ".txt": read_text,
    ".text": read_text,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".pdf": read_pdf,
    ".jsonl": read_jsonl,
    ".json": read_json,
    ".docx": read_docx,
    ".pptx": read_pptx,
    ".xlsx": read_xlsx,
    ".csv": read_csv,
    ".epub": read_epub,
    ".rtf": read_rtf,
    ".eml": read_eml,
    ".png": read_image,
    ".jpg": read_image,
    ".jpeg": read_image,
    ".tif": read_image,
    ".tiff": read_image,
}
SUPPORTED_TYPES = tuple(READERS)

__all__ = [
    "MAX_TITLE",
    "NO_LIMITS",
    "READERS",
    "SUPPORTED_TYPES",
    "LoadError",
    "Parsed",
    "ReadLimits",
    "Reader",
    "TooManyPassages",
    "Unit",
    "decode_text",
    "one_line",
]
