"""What every format reader shares: the text unit it returns, the error that says why a file cannot be read,
and the decoding of bytes to text."""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from retrievers.passages import MetadataValue

MAX_TITLE = 200  # characters of a title kept: every passage of a source stores its title


class LoadError(Exception):
    """A source that cannot be read; the message is the reason."""


class TooManyPassages(LoadError):
    """A source that would make more passages than an ingest may add (uploads: `RAG_UPLOAD_MAX_PASSAGES`).

    Raised as soon as the count passes the limit, so a file of a million tiny records stops being read
    there instead of being read, split and encoded for hours.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"makes more than {limit:,} passages, the most this ingest may still add "
            "(RAG_UPLOAD_MAX_PASSAGES): split the file, or ingest it with `rag ingest`"
        )
        self.limit = limit


@dataclass
class Unit:
    """A piece of text from a source, before splitting into passages."""

    title: str
    text: str
    extra: dict[str, MetadataValue] = field(default_factory=dict)
    whole: bool = False  # one passage as it is, never split (a table's rows under their header)


@dataclass(frozen=True)
class ReadLimits:
    """How much of a file a reader may take: `max_units` records or table pieces (past it, `TooManyPassages` as
    soon as the next is read), and the scanned pages read by OCR and the seconds each may take."""

    max_units: int | None = None
    ocr_pages: int = 50
    ocr_page_seconds: float = 30.0


NO_LIMITS = ReadLimits()


@dataclass
class Parsed:
    """What a reader made of one file: its units, warnings about parts skipped, and whether the units are
    records (passage-sized by their author: not split unless `split_records`)."""

    units: list[Unit]
    warnings: list[str] = field(default_factory=list)
    records: bool = False


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes) -> str:
    """UTF-8 (or UTF-16/32 with a byte-order mark); binary data and other encodings are refused."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(f"invalid {encoding.upper()} text at byte {exc.start}") from None
    if b"\x00" in data[:8192]:
        raise LoadError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); convert it to UTF-8"
        ) from None


def one_line(title: str) -> str:
    """A title on one line (whitespace collapsed), cut to `MAX_TITLE` characters."""
    return " ".join(title.split())[:MAX_TITLE].rstrip()
