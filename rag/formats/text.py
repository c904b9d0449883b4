"""Plain text and Markdown: one unit per file, titled by front matter's `title`, the first `# ` heading or the
file name."""

from __future__ import annotations

import re
from pathlib import Path

from .base import NO_LIMITS, Parsed, ReadLimits, Unit, decode_text, one_line
from .metadata import split_front_matter, user_metadata


def read_text(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    return Parsed([Unit(path.stem, decode_text(data))])


def read_markdown(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    """The file as one unit; YAML front matter becomes its metadata (its `title` the unit's title)."""
    front, text, warnings = split_front_matter(decode_text(data))
    extra: dict = {}
    title = None
    if front:
        given = front.get("title")
        title = one_line(str(given)) if isinstance(given, str | int | float) and str(given).strip() else None
        extra, dropped = user_metadata(((k, v) for k, v in front.items() if k != "title"), "front matter")
        warnings += dropped
    return Parsed([Unit(title or markdown_title(text) or path.stem, text, extra)], warnings)


# the first `# ` heading line with some text in it: each try ends at its line's end, so it runs in linear time
_HEADING = re.compile(r"^#[ \t][^\n]*?[^\s#]", re.MULTILINE)


def markdown_title(text: str) -> str | None:
    """The text of the first level-1 ATX heading (`# Title`, closing `#`s dropped), or None."""
    match = _HEADING.search(text)
    if match is None:
        return None
    end = text.find("\n", match.end())
    content = text[match.start() + 1 : end if end >= 0 else len(text)].strip()
    bare = content.rstrip("#")
    if bare[-1:].isspace():  # a closing sequence: #s after a space (CommonMark)
        content = bare
    return one_line(content)
