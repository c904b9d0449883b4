"""Passages: DPR's unit of retrieval (about 100 words), their stable ids, and the text splitter."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

DEFAULT_PASSAGE_WORDS = 100

_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")

MetadataValue = str | int | float | bool


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


def passage_ids(source: str, texts: Sequence[str]) -> list[str]:
    """Stable ids from the source and the content, so re-ingesting unchanged text adds nothing.

    A text repeated within one source gets its occurrence number mixed in, so ids stay unique
    without depending on position (inserting a paragraph does not renumber the rest).
    """
    seen: dict[str, int] = {}
    ids = []
    for text in texts:
        occurrence = seen.get(text, 0)
        seen[text] = occurrence + 1
        key = f"{source}\x00{occurrence}\x00{text}".encode("utf-8", "surrogatepass")
        ids.append(hashlib.sha1(key).hexdigest()[:24])
    return ids


def split_text(text: str, passage_words: int = DEFAULT_PASSAGE_WORDS) -> list[str]:
    """Cut text into passages of about `passage_words` words, preferring sentence ends.

    A cut falls at the last sentence end between 0.75 and 1.25 times the target length, or at
    the target when there is none; a remainder of up to 1.25 times the target stays whole.
    Passages are slices of the original text (whitespace inside them kept), so joining them
    loses and repeats nothing but the whitespace at the cuts. `passage_words <= 0` keeps the
    text whole.
    """
    spans = [m.span() for m in _WORD.finditer(text)]
    if not spans:
        return []
    if passage_words <= 0:
        return [text[spans[0][0] : spans[-1][1]]]
    low = max(1, int(passage_words * 0.75))
    high = max(passage_words, int(passage_words * 1.25))
    passages = []
    start = 0
    while start < len(spans):
        remaining = len(spans) - start
        if remaining <= high:
            end = len(spans)
        else:
            end = start + passage_words
            for i in range(start + high - 1, start + low - 2, -1):
                word_start, word_end = spans[i]
                if _SENTENCE_END.search(text[word_start:word_end]):
                    end = i + 1
                    break
        passages.append(text[spans[start][0] : spans[end - 1][1]])
        start = end
    return passages


def make_passages(
    source: str,
    texts: Iterable[tuple[str, str, Mapping[str, MetadataValue]]],
    passage_words: int = DEFAULT_PASSAGE_WORDS,
) -> list[Passage]:
    """Split each `(title, text, extra)` unit of one source into passages with stable ids."""
    pieces: list[tuple[str, str, Mapping[str, MetadataValue]]] = []
    for title, text, extra in texts:
        for piece in split_text(text, passage_words):
            pieces.append((title, piece, extra))
    ids = passage_ids(source, [f"{title}\x00{piece}" for title, piece, _ in pieces])
    return [
        Passage(id=pid, text=piece, title=title, source=source, position=i, extra=dict(extra))
        for i, (pid, (title, piece, extra)) in enumerate(zip(ids, pieces))
    ]
