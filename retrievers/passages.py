"""Passages: DPR's unit of retrieval (about 100 words), their stable ids, and the text splitter."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

DEFAULT_PASSAGE_WORDS = 100


MetadataValue = str | int | float | bool
# the metadata that says where in a document a passage is (the readers of rag.formats set them), in citation order
LOCATION_KEYS = ("page", "slide", "sheet", "chapter", "heading", "rows")


@dataclass(frozen=True)
class Passage:
    """One retrievable block of text with where it came from.

    `position` is the passage's index within its source; `extra` holds any further scalar
    metadata (a PDF page, a record's own id as `doc_id`).
    """

    id: str
    text: str
    title: str = ""
    source: str = ""
    position: int = 0
    extra: Mapping[str, MetadataValue] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Hash of the content that the indexes are built from; a change means re-encoding."""
        return text_digest(self.title + "\x00" + self.text)

    @property
    def indexed_text(self) -> str:
        """What both encoders and BM25 read: the title, then the text (as DPR's passage encoder)."""
        if not self.title or self.text.startswith(self.title):
            return self.text
        return f"{self.title}. {self.text}"

    @property
    def location(self) -> str:
        """Where in its source the passage is, for citations: "page 3", "slide 2", "sheet Sales, rows 2-14"."""
        return ", ".join(f"{key} {self.extra[key]}" for key in LOCATION_KEYS if self.extra.get(key) not in (None, ""))

    def metadata(self) -> dict[str, MetadataValue]:
        """Flat metadata as stored beside the vector (Chroma accepts scalars only)."""
        return {"title": self.title, "source": self.source, "position": self.position, **self.extra}

    @classmethod
    def from_metadata(cls, id: str, text: str, metadata: Mapping[str, MetadataValue] | None) -> "Passage":
        meta = dict(metadata or {})
        title = str(meta.pop("title", ""))
        source = str(meta.pop("source", ""))
        position = int(meta.pop("position", 0))
        return cls(id=id, text=text, title=title, source=source, position=position, extra=meta)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def passage_ids(source: str, texts: Iterable[str]) -> list[str]:
    """Stable ids from the source and the content, so re-ingesting unchanged text adds nothing.

    A text repeated within one source gets its occurrence number mixed in, so ids stay unique
    without depending on position (inserting a paragraph does not renumber the rest).
    """
    ids = _PassageIds(source)
    return [ids(text) for text in texts]


class _PassageIds:
    """`passage_ids` one text at a time; remembers a digest of each text, not the text."""

    def __init__(self, source: str) -> None:
        self._prefix = source.encode("utf-8", "surrogatepass") + b"\x00"
        self._seen: dict[bytes, int] = {}

    def __call__(self, text: str) -> str:
        encoded = text.encode("utf-8", "surrogatepass")
        key = hashlib.sha1(encoded).digest()
        occurrence = self._seen.get(key, 0)
        self._seen[key] = occurrence + 1
        return hashlib.sha1(self._prefix + str(occurrence).encode() + b"\x00" + encoded).hexdigest()[:24]


def split_text(text: str, passage_words: int = DEFAULT_PASSAGE_WORDS) -> list[str]:
    """Cut text into passages of about `passage_words` words, preferring sentence ends.

    A cut falls at the last sentence end between 0.75 and 1.25 times the target length, or at
    the target when there is none; a remainder of up to 1.25 times the target stays whole.
    Passages are slices of the original text (whitespace inside them kept), so joining them
    loses and repeats nothing but the whitespace at the cuts. `passage_words <= 0` keeps the
    text whole.
    """
    return list(iter_split_text(text, passage_words))


def iter_split_text(text: str, passage_words: int = DEFAULT_PASSAGE_WORDS) -> Iterator[str]:
    """`split_text` as a generator.

    Words are counted by the regex engine, a passage at a time (`_words_end`), not one Python step per
    word, so a 20 MB file of one-letter words splits in about a second; memory stays that of the text.
    """
    if passage_words <= 0:
        whole = text.strip()
        if whole:
            yield whole
        return
    low = max(1, int(passage_words * 0.75))
    high = max(passage_words, int(passage_words * 1.25))
    if len(text) < 2 * high:  # fewer than `high` words (each takes a character and a space): whole
        whole = text.strip()
        if whole:
            yield whole
        return
    end_text = len(text.rstrip())
    start = _next_word(text, 0)
    while start is not None:
        high_end = _words_end(text, start, high)  # the end of word `high`, if there are that many
        if high_end is None or _next_word(text, high_end) is None:  # `high` words or fewer remain: whole
            yield text[start:end_text]
            return
        low_start = start if low == 1 else _words_end(text, start, low - 1)  # just after word `low - 1`
        ends = list(_SENTENCE_CUT.finditer(text, low_start, high_end))  # sentence ends of words low..high
        cut = ends[-1].end() if ends else _words_end(text, start, passage_words)
        yield text[start:cut]
        start = _next_word(text, cut)


# a word that ends a sentence ends like this: `.`, `!` or `?`, then closing quotes or brackets
_SENTENCE_CUT = re.compile(r"[.!?][\"')\]]*(?!\S)")
_NON_SPACE = re.compile(r"\S")


def _next_word(text: str, pos: int) -> int | None:
    """Where the first word at or after `pos` starts, or None."""
    match = _NON_SPACE.search(text, pos)
    return match.start() if match else None


def _words_end(text: str, start: int, n: int) -> int | None:
    """The end of the `n`th word from `start` (a word's first character), or None if fewer remain."""
    match = _n_words(n).match(text, start)
    return match.end() if match else None


@functools.lru_cache(maxsize=64)
def _n_words(n: int) -> re.Pattern[str]:
    return re.compile(r"\S+(?:\s+\S+){%d}" % (n - 1))


def make_passages(
    source: str,
    texts: Iterable[tuple[str, str, Mapping[str, MetadataValue]] | tuple[str, str, Mapping[str, MetadataValue], bool]],
    passage_words: int = DEFAULT_PASSAGE_WORDS,
) -> list[Passage]:
    """Split each `(title, text, extra)` unit of one source into passages with stable ids; a unit given as
    `(title, text, extra, True)` stays one passage (a table's rows under their header)."""
    ids = _PassageIds(source)
    passages: list[Passage] = []
    for title, text, extra, *whole in texts:
        for piece in iter_split_text(text, 0 if whole and whole[0] else passage_words):
            passages.append(
                Passage(
                    id=ids(f"{title}\x00{piece}"),
                    text=piece,
                    title=title,
                    source=source,
                    position=len(passages),
                    extra=dict(extra),
                )
            )
    return passages
