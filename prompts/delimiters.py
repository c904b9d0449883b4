"""Document text as every prompt carries it: between `<passage>` delimiters, with a one-line escaped header
and with delimiters inside the text defused, look-alikes too, so a document cannot close its own block and
speak as the instructions."""

from __future__ import annotations

import functools
import html
import re
import sys
import unicodedata
from typing import Any

# `<passage` or `</passage`; one run of spaces and slashes, so a failed try costs only that run (linear)
_DELIMITER = re.compile(r"<[\s/]*passage", re.IGNORECASE)
_LESS_THAN = re.compile("[<\ufe64\uff1c]")  # the characters whose NFKC form is `<`
# where a look-alike can start: such a `<`, spaces and slashes, then `p` or any non-ASCII character
_LOOK_ALIKE_START = re.compile(r"[<\ufe64\uff1c](?=[\s/]*+(?:[pP]|[^\x00-\x7f\ufe64\uff1c]))")


def before_delimiter(text: str) -> str:
    """`text` up to the first `<passage` or `</passage` in it: where a small model starts echoing its prompt's
    markup, nothing after is an answer."""
    found = _DELIMITER.search(text)
    return text[: found.start()].rstrip() if found else text


def passage_block(text: str, **attributes: Any) -> str:
    """Document text between <passage> delimiters, as every prompt that carries document text has it: the
    attributes on the one header line, escaped, and the text as it is but for delimiters in it, defused."""
    header = "".join(f' {name}="{_attribute(str(value))}"' for name, value in attributes.items())
    return f"<passage{header}>\n{defuse(text.strip())}\n</passage>"


def _attribute(value: str) -> str:
    """A header value on one line: whitespace collapsed, delimiters defused, `&`, `<`, `>` and `"` escaped."""
    return html.escape(" ".join(defuse(value).split()), quote=False).replace('"', "&quot;")


def defuse(text: str) -> str:
    """`text` with each `<passage` or `</passage` written `[passage`, look-alikes too: the text is matched after
    NFKC normalisation (fullwidth `＜／passage＞`) and without format characters (zero-width spaces, Unicode Cf)."""
    if text.isascii():  # NFKC leaves ASCII as it is, and it has no format characters
        return _DELIMITER.sub("[passage", text)
    if not _LESS_THAN.search(text):
        return text
    folded = _format_characters().sub("", unicodedata.normalize("NFKC", text)).casefold()
    if not _DELIMITER.search(folded):
        return text
    parts, done = [], 0
    for match in _LOOK_ALIKE_START.finditer(text):
        if match.start() >= done and (end := _look_alike_end(text, match.end())):
            parts += (text[done : match.start()], "[passage")
            done = end
    return "".join(parts) + text[done:]


def _look_alike_end(text: str, i: int) -> int:
    """Where a delimiter whose `<` is just before `i` ends (0 if there is none): spaces, slashes and format
    characters, then `passage`, each character compared by its NFKC form."""
    while i < len(text) and not _folded(text[i]).replace("/", "").strip():
        i += 1
    word = ""
    while i < len(text) and len(word) < len("passage") and "passage".startswith(word):
        word += _folded(text[i])
        i += 1
    return i if word.startswith("passage") else 0


@functools.lru_cache(maxsize=4096)
def _folded(char: str) -> str:
    """A character as delimiters are matched: its NFKC form, case-folded; nothing for a format character."""
    return "" if unicodedata.category(char) == "Cf" else unicodedata.normalize("NFKC", char).casefold()


@functools.cache
def _format_characters() -> re.Pattern[str]:
    """Runs of Unicode's format characters (category Cf), as a class of ranges; built on first use (0.2 s)."""
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) == "Cf":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return re.compile("[%s]+" % "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges))
