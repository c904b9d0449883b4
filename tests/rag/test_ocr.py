"""OCR, offline: scanned PDF pages and images read by tesseract, within pages-per-file and seconds-per-page limits."""

from __future__ import annotations

import pytest

from rag.documents.loaders import Input, LoadError, load
from rag.formats import ocr
from rag.formats.base import NO_LIMITS, ReadLimits

from .documents import make_image, make_scanned_pdf

needs_tesseract = pytest.mark.skipif(not ocr.available(), reason="needs Debian's tesseract-ocr")
LINES = ["The river flows north through eleven countries", "Revenue grew by 12 percent in 1889"]


def load_bytes(tmp_path, name, data, limits=NO_LIMITS):
    path = tmp_path / name
    path.write_bytes(data)
    return load(Input(source=str(path), path=path), limits=limits)


def words(text):
    return " ".join(text.split())


@needs_tesseract
def test_a_scanned_pdf_is_read_page_by_page(tmp_path):
    loaded = load_bytes(tmp_path, "scan.pdf", make_scanned_pdf(["\n".join(LINES), "A second page of text"]))
    assert [u.extra["page"] for u in loaded.units] == [1, 2] and not loaded.warnings
    assert words(loaded.units[0].text) == " ".join(LINES)
    assert words(loaded.units[1].text) == "A second page of text"


@needs_tesseract
def test_images_are_read_and_every_frame_of_a_tiff_is_a_page(tmp_path):
    [unit] = load_bytes(tmp_path, "note.png", make_image("\n".join(LINES))).units
    assert words(unit.text) == " ".join(LINES) and unit.title == "note" and unit.extra == {"page": 1}
    tiff = load_bytes(tmp_path, "fax.tiff", make_image("First page here", "TIFF", ["Second page here"]))
    assert [(u.extra["page"], words(u.text)) for u in tiff.units] == [(1, "First page here"), (2, "Second page here")]


@needs_tesseract
def test_a_long_scan_is_read_up_to_the_page_limit_and_says_what_was_skipped(tmp_path):
    loaded = load_bytes(
        tmp_path, "long.pdf", make_scanned_pdf([f"Page number {n}" for n in range(1, 5)]), ReadLimits(ocr_pages=2)
    )
    assert [u.extra["page"] for u in loaded.units] == [1, 2]
    assert loaded.warnings == ["2 scanned page(s) not read (3-4): OCR reads at most 2 a file (RAG_OCR_MAX_PAGES)"]


@needs_tesseract
def test_a_page_past_its_seconds_is_skipped_with_a_reason(tmp_path):
    with pytest.raises(LoadError, match=r"OCR could not read 1 page\(s\): page 1: took longer than 0.001 s"):
        load_bytes(tmp_path, "slow.png", make_image("Some words"), ReadLimits(ocr_page_seconds=0.001))


def test_an_image_that_is_not_an_image_is_refused_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: True)
    with pytest.raises(LoadError, match="not a readable image"):
        load_bytes(tmp_path, "fake.png", b"this is text, not a PNG")


def test_an_image_too_large_to_read_safely_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: True)
    monkeypatch.setattr(ocr, "MAX_PIXELS", 1000)
    with pytest.raises(LoadError, match="pixels; at most 1,000 are read"):
        load_bytes(tmp_path, "big.png", make_image("Big"))


def test_without_tesseract_a_scan_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: False)
    with pytest.raises(LoadError, match="OCR needs Debian's tesseract-ocr"):
        load_bytes(tmp_path, "scan.pdf", make_scanned_pdf(["Some words"]))
    with pytest.raises(LoadError, match="OCR needs Debian's tesseract-ocr"):
        load_bytes(tmp_path, "note.png", make_image("Some words"))
