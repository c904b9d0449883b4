"""Text from pictures of text, offline: Debian's tesseract-ocr, run as a process per page with a deadline.

Used for images (`.png`, `.jpg`, `.tiff`: every frame a page) and for PDF pages without a text layer (scans).
At most `ReadLimits.ocr_pages` pages of a file are read, each within `ReadLimits.ocr_page_seconds`; pages past
either limit are skipped with a warning, so a 500-page scan costs minutes, not hours. Chosen over RapidOCR by
measurement (docs/experiments/ocr): as accurate on rendered scans and without opencv's 60 MB.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, Unit

logger = logging.getLogger(__name__)

TESSERACT = "tesseract"
MAX_PIXELS = 50_000_000  # an A3 page at 600 dpi; Pillow's own bomb limit is 89 million
MAX_SIDE = 2400  # pixels of a page's longer side given to tesseract
INSTALL = "OCR needs Debian's tesseract-ocr (`apt-get install tesseract-ocr`; `make install` installs it)"


def available() -> bool:
    return shutil.which(TESSERACT) is not None


class PageFailed(Exception):
    """One page OCR could not read in time or at all; the message says why."""


def ocr_page(image: Any, seconds: float) -> str:
    """The text of one page image (a Pillow image), read by tesseract within `seconds`.

    A page larger than `MAX_SIDE` pixels is scaled down to it (a letter page at about 220 dpi: as accurate
    on rendered scans, and 1.5x as fast as 300 dpi); tesseract runs one thread (OpenMP's threads spin when
    the cores are busy: 2 threads took 144 s for a page that 1 read in 6) and skips its inverted-text pass.
    """
    from PIL import Image

    page = image.convert("L")
    if max(page.size) > MAX_SIDE:
        scale = MAX_SIDE / max(page.size)
        page = page.resize((round(page.width * scale), round(page.height * scale)), Image.LANCZOS)
    buffer = io.BytesIO()
    page.save(buffer, format="PNG")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        run = subprocess.run(
            [TESSERACT, "stdin", "stdout", "-l", "eng", "-c", "tessedit_do_invert=0"],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=seconds,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise PageFailed(f"took longer than {seconds:g} s") from None
    except OSError as exc:
        raise PageFailed(f"tesseract could not run ({exc.strerror or exc})") from None
    if run.returncode != 0:
        raise PageFailed(f"tesseract failed: {run.stderr.decode('utf-8', 'replace').strip()[:120]}")
    return run.stdout.decode("utf-8", "replace")


def ocr_pages(
    numbers: Sequence[int], image_of: Callable[[int], Any], title: str, limits: ReadLimits
) -> tuple[list[Unit], list[str]]:
    """The pages `numbers` read into units (`page` metadata), each image made by `image_of(number)` only when it
    is read, within the limits; warnings for pages skipped or failed."""
    units, failed = [], []
    for number in numbers[: limits.ocr_pages]:
        try:
            text = ocr_page(image_of(number), limits.ocr_page_seconds)
        except PageFailed as exc:
            logger.warning("OCR skipped page %d of %s: %s", number, title, exc)
            failed.append(f"page {number}: {exc}")
            continue
        if text.strip():
            units.append(Unit(title, text, {"page": number}))
    warnings = [f"OCR could not read {len(failed)} page(s): {'; '.join(failed[:3])}"] if failed else []
    if len(numbers) > limits.ocr_pages:
        skipped = numbers[limits.ocr_pages :]
        warnings.append(
            f"{len(skipped)} scanned page(s) not read ({skipped[0]}-{skipped[-1]}): OCR reads at most "
            f"{limits.ocr_pages} a file (RAG_OCR_MAX_PAGES)"
        )
    return units, warnings


def open_image(data: bytes) -> Any:
    """`data` as a Pillow image, refused when it is no image or too many pixels to read safely."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise LoadError(f"image of {image.width} x {image.height} pixels; at most {MAX_PIXELS:,} are read")
        return image
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        raise LoadError(f"not a readable image ({type(exc).__name__}: {str(exc)[:100]})") from None


def read_image(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    """An image file's text, each frame of a multi-page TIFF a page."""
    if not available():
        raise LoadError(f"an image: {INSTALL}")
    image = open_image(data)

    def frame(number: int) -> Any:
        try:
            image.seek(number - 1)
            image.load()
        except (OSError, ValueError, EOFError) as exc:
            raise PageFailed(f"not a readable image frame ({str(exc)[:100]})") from None
        return image

    units, warnings = ocr_pages(list(range(1, getattr(image, "n_frames", 1) + 1)), frame, path.stem, limits)
    if not units:
        raise LoadError(f"no text read from the image by OCR{': ' + warnings[0] if warnings else ''}")
    return Parsed(units, warnings)
