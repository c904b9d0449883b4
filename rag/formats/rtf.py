"""Rich Text Format (.rtf): its text through striprtf (control words dropped; RTF is 7-bit text).

striprtf walks the file a character at a time in Python (about 0.5 us each), so files past `MAX_RTF_BYTES` are
refused rather than read for tens of seconds: a text that large is better saved as .docx or .txt.
"""

from __future__ import annotations

from pathlib import Path

from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, Unit

MAX_RTF_BYTES = 5 << 20


def read_rtf(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    from striprtf.striprtf import rtf_to_text

    if len(data) > MAX_RTF_BYTES:
        raise LoadError(
            f"RTF file of {len(data) / (1 << 20):.0f} MiB; at most {MAX_RTF_BYTES >> 20} MiB are read: "
            "save it as .docx or .txt"
        )
    if not data.lstrip().startswith(b"{\\rtf"):
        raise LoadError("not an RTF file (it does not start with {\\rtf)")
    try:
        text = rtf_to_text(data.decode("latin-1"), errors="ignore")
    except (ValueError, IndexError, RecursionError) as exc:
        raise LoadError(f"not a readable RTF file ({type(exc).__name__}: {str(exc)[:120]})") from None
    return Parsed([Unit(path.stem, text)])
