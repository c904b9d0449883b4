"""ZIP containers (Word, PowerPoint, Excel, EPUB) checked before any library unpacks them: a ZIP bomb, an
encrypted or legacy binary Office file, or a file that is no ZIP at all is refused with its reason."""

from __future__ import annotations

import io
import zipfile

from .base import LoadError

MAX_UNZIPPED = 256 << 20  # bytes a container may declare unpacked, all entries together
MAX_ENTRIES = 10_000
MAX_RATIO = 200  # unpacked / packed per entry: text XML packs about 10x; bombs pack thousands of times
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound file of .doc/.xls/.ppt, and of encrypted .docx/.xlsx/.pptx


def check_zip(data: bytes, kind: str) -> zipfile.ZipFile:
    """`data` opened as a ZIP after its declared sizes were checked; `kind` names the format in errors."""
    if data.startswith(_OLE):
        raise LoadError(
            f"password-protected or old binary Office file, not a {kind}: save it as {kind} without a password"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise LoadError(f"not a readable {kind} (damaged ZIP container: {str(exc)[:100]})") from None
    if len(entries) > MAX_ENTRIES:
        raise LoadError(f"{len(entries):,} entries in its ZIP container; at most {MAX_ENTRIES:,} are read")
    total = sum(e.file_size for e in entries)
    if total > MAX_UNZIPPED:
        raise LoadError(
            f"unpacks to {total / (1 << 20):,.0f} MiB; at most {MAX_UNZIPPED >> 20} MiB are read (a ZIP bomb?)"
        )
    for entry in entries:
        if entry.file_size > MAX_RATIO * max(entry.compress_size, 1) and entry.file_size > 1 << 20:
            raise LoadError(
                f"{entry.filename[:80]} unpacks {entry.file_size // max(entry.compress_size, 1):,} "
                "times its packed size (a ZIP bomb?)"
            )
    return archive
