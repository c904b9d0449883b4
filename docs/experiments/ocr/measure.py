"""Tesseract (Debian's tesseract-ocr) against RapidOCR (rapidocr-onnxruntime, its ONNX models in the wheel) on
rendered scans: pages of known text drawn at 300 dpi, optionally degraded like a scanner (grey, noise, a small
skew), OCR'd by each; character accuracy (1 - edit distance / length, after collapsing whitespace) and seconds
per page.

    python docs/experiments/ocr/measure.py --engine tesseract --pages 6                  # as `rag ingest` runs it
    /tmp/ocrvenv/bin/python docs/experiments/ocr/measure.py --engine rapidocr --pages 6   # a venv with rapidocr
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

WORDS = ("the river flows north through eleven countries into the sea while the tower in paris was designed "
         "by an engineer and completed in 1889 for the fair revenue grew by 12 percent in the third quarter "
         "of the year after costs fell sharply a domestic cat is a small carnivorous mammal often kept as a "
         "house pet for catching mice").split()


def page_text(seed: int, lines: int = 30) -> str:
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 12))]
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + rng.choice([".", ",", ";", ""]))
    return "\n".join(out)


def render(text: str, degrade: bool, seed: int) -> Image.Image:
    """A letter page at 300 dpi (2550 x 3300) with 11 pt text, as a scanner gives it."""
    font = ImageFont.load_default(size=46)
    page = Image.new("L", (2550, 3300), 255)
    draw = ImageDraw.Draw(page)
    for i, line in enumerate(text.splitlines()):
        draw.text((200, 250 + i * 90), line, fill=0, font=font)
    if degrade:
        rng = random.Random(seed)
        page = page.rotate(rng.uniform(-1.0, 1.0), fillcolor=255, resample=Image.BICUBIC)
        page = page.filter(ImageFilter.GaussianBlur(1.2))
        noise = Image.effect_noise(page.size, 25)
        page = Image.blend(page, noise, 0.15)
    return page


def tesseract(image: Image.Image) -> str:
    """The project's own OCR call (`rag.formats.ocr.ocr_page`): what ingest runs."""
    from rag.formats.ocr import ocr_page

    return ocr_page(image, 120.0)


def rapidocr_engine():
    import numpy as np
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def read(image: Image.Image) -> str:
        result, _ = engine(np.array(image.convert("RGB")))
        return "\n".join(r[1] for r in result or [])
    return read


def accuracy(truth: str, got: str) -> float:
    a, b = " ".join(truth.split()), " ".join(got.split())
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return max(0.0, 1 - previous[-1] / max(1, len(a)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["tesseract", "rapidocr"], required=True)
    parser.add_argument("--pages", type=int, default=6)
    args = parser.parse_args()
    read = tesseract if args.engine == "tesseract" else rapidocr_engine()
    rows = []
    for seed in range(args.pages):
        degrade = seed % 2 == 1
        text = page_text(seed)
        image = render(text, degrade, seed)
        started = time.perf_counter()
        got = read(image)
        seconds = time.perf_counter() - started
        rows.append({"page": seed, "degraded": degrade, "seconds": round(seconds, 2),
                     "accuracy": round(100 * accuracy(text, got), 2)})
        print(json.dumps(rows[-1]), flush=True)
    for kind in (False, True):
        part = [r for r in rows if r["degraded"] == kind]
        print(f"{args.engine} {'degraded' if kind else 'clean'}: accuracy "
              f"{sum(r['accuracy'] for r in part) / len(part):.2f}%, "
              f"{sum(r['seconds'] for r in part) / len(part):.2f} s per page ({len(part)} pages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
