"""HTML: the page's visible text, in linear time whatever the markup."""

from __future__ import annotations

import re
from html import escape, unescape
from pathlib import Path

from retrievers.passages import MetadataValue

from .base import NO_LIMITS, Parsed, ReadLimits, Unit, decode_text, one_line
from .tables import rectangular, table_units


def read_html(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    return Parsed(html_units(decode_text(data), path.stem))


# HTML to text in a few passes of linear-time regexes (no pattern can match a stretch of text in two ways:
# atomic groups, and every lazy scan can also end at the end of the page), so that a page of 20 MB takes
# seconds: `html.parser` spends microseconds of Python on every tag, and it rescans the rest of the page
# for every `<` that never closes (40 KB of `<a` lines took 30 s).
_ATTRIBUTES = r"""(?>[^<>"'=]+|=\s*+"[^"]*+"|=\s*+'[^']*+'|=)*+"""  # what follows a tag's name, up to its `>`
_BOUNDARY = r"(?=[\s/>])"  # the end of a tag's name


def _hidden(name: str, until: str = "") -> str:
    """An element whose content is not text, after its `<`: up to its end tag (or `until`, or the page's end)."""
    return rf"{name}{_BOUNDARY}.*?(?:</{name}\s*>{until}|\Z)"


_FLAGS = re.DOTALL | re.IGNORECASE | re.ASCII  # HTML's tag names and whitespace are ASCII


def _after_lt(initials: str, alternatives: list[str], flags: int = _FLAGS) -> re.Pattern[str]:
    """`<` then one of the alternatives, tried only where the next character is one of `initials` (fast on `<<<`)."""
    return re.compile(rf"<(?=[{initials}])(?:{'|'.join(alternatives)})", flags)


_NOT_TEXT = _after_lt(
    "!?snt",
    [
        r"!--.*?(?:-->|\Z)",
        r"!\[CDATA\[.*?(?:\]\]>|\Z)",
        r"[!?][^<>]*+>?",
        *(_hidden(name) for name in ("script", "style", "noscript", "template", "svg")),
    ],
)
_TITLE = re.compile(rf"<title{_BOUNDARY}[^<>]*+>?(.*?)(?:</title\s*>|\Z)", _FLAGS)
_HEAD_OR_TITLE = _after_lt("ht", [_hidden("head", until=rf"|(?=<body{_BOUNDARY})"), _hidden("title")])
_BLOCKS = (
    "p",
    "div",
    "br",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dt",
    "dd",
    "hr",
)
_BLOCK_NAMES = "|".join(  # grouped by first letter: a few times faster than one flat alternation
    first + "(?:" + "|".join(sorted((n[1:] for n in _BLOCKS if n[0] == first), key=len, reverse=True)) + ")"
    for first in sorted({n[0] for n in _BLOCKS})
)
_BLOCK_INITIALS = "".join(sorted({n[0] for n in _BLOCKS}))
_BLOCK_TAG = re.compile(rf"</?(?=[{_BLOCK_INITIALS}])(?:{_BLOCK_NAMES}){_BOUNDARY}{_ATTRIBUTES}>", _FLAGS)
_TAG = re.compile(rf"</?[a-zA-Z]{_ATTRIBUTES}>")


def html_text(html: str) -> str:
    """Visible text of a fragment without scripts or styles: block tags become line breaks, other tags go."""
    return unescape(_TAG.sub("", _BLOCK_TAG.sub("\n", html)))


def html_units(text: str, fallback_title: str, extra: dict[str, MetadataValue] | None = None) -> list[Unit]:
    """A page's visible text under its <title> (scripts, styles, templates, SVG and the <head> dropped), then
    each of its tables as Markdown table units (`rag.formats.tables`), taken out of the text."""
    cleaned = _NOT_TEXT.sub("", text)
    title = _TITLE.search(cleaned)
    page = _HEAD_OR_TITLE.sub("", cleaned)
    name = (one_line(html_text(title.group(1))) if title else "") or fallback_title
    tables: list[list[list[str]]] = []

    def take(match: re.Match[str]) -> str:
        # rows and cells marked with separator characters, then the whole table's text found in one pass
        marked = html_text(_CELL.sub("\x1f", _ROW.sub("\x1e", _SEPARATORS.sub("", match.group(1)))))
        plain = _SPACES.sub(" ", _SPACED_SEPARATOR.sub(r"\1", marked)).strip(" ")  # as `cell_text`, in one pass
        marked = plain.replace("\\", "\\\\").replace("|", "\\|")
        rows = rectangular(row.split("\x1f")[1:] for row in marked.split("\x1e")[1:])
        if len(rows) < 2:  # a layout table of one row: its text stays in the page (escaped: it is read as HTML)
            return "\n" + escape(plain.replace("\x1f", " ").replace("\x1e", "\n").strip(), quote=False) + "\n"
        tables.append(rows)
        return "\n"

    body = html_text(_TABLE.sub(take, page))
    body = re.sub(r"[ \t\r\f\v]{2,}|[\t\r\f\v]", " ", body)  # a single space stays: no work per word
    body = re.sub(r"\n\s*\n+", "\n\n", body).strip()
    units = [Unit(name, body, dict(extra or {}))]
    for rows in tables:
        units += table_units(rows, name, extra)
    return units


# a table up to its end tag (or the page's end: an unclosed one is matched once), then its rows and cells
_TABLE = re.compile(rf"<table{_BOUNDARY}{_ATTRIBUTES}>((?:[^<]++|<(?!/table\s*+>))*+)(?:</table\s*+>)?", _FLAGS)
_ROW = re.compile(rf"<tr{_BOUNDARY}{_ATTRIBUTES}>", _FLAGS)
_CELL = re.compile(rf"<t[dh]{_BOUNDARY}{_ATTRIBUTES}>", _FLAGS)
_SEPARATORS = re.compile("[\x1e\x1f]")
# a separator with the whitespace around it; whitespace runs (str.split counts the separators as spaces: these not)
_SPACED_SEPARATOR = re.compile(r"[^\S\x1e\x1f]*+([\x1e\x1f])[^\S\x1e\x1f]*+")
_SPACES = re.compile(r"[^\S\x1e\x1f]++")
