"""Passages cut to what matters for the question before they go into a prompt, so that a small local model
reads fewer tokens: the sentences that share the most content words with the question, and the one holding
the reader's span, in passage order."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from .presentation import content_terms, sentences
from .types import ShortAnswer, Source


def trim_passage(text: str, question: str, keep: int, span: str | None = None, title: str = "") -> str:
    """`text` cut to its `keep` sentences sharing most content words with `question` (ties: the earlier), plus
    the first sentence holding `span`; whole when it has no more sentences than that. Words of the passage's
    `title` (given with the passage anyway) count only when the question has no others."""
    spans = sentences(text)
    if keep <= 0 or len(spans) <= keep:
        return text
    wanted = content_terms(question)
    wanted = (wanted - content_terms(title)) or wanted
    overlap = [len(wanted & content_terms(text[a:b])) for a, b in spans]
    chosen = set(sorted(range(len(spans)), key=lambda i: (-overlap[i], i))[:keep])
    if span:
        lowered, needle = text.lower(), span.lower()
        at = lowered.find(needle)
        if at >= 0:
            chosen |= {i for i, (a, b) in enumerate(spans) if a <= at < b}
    pieces, last = [], -1
    for i in sorted(chosen):
        a, b = spans[i]
        if pieces and i != last + 1:
            pieces.append("…")  # where sentences were left out
        pieces.append(text[a:b].strip())
        last = i
    lead = "… " if min(chosen) > 0 else ""
    tail = " …" if max(chosen) < len(spans) - 1 else ""
    return lead + " ".join(pieces) + tail


def trimmed_sources(
    sources: Sequence[Source], question: str, keep: int, short: ShortAnswer | None = None
) -> list[Source]:
    """Copies of `sources` whose passages are trimmed for the prompt (the originals, shown and cited, stay whole)."""
    out = []
    for source in sources:
        span = short.text if short is not None and short.source == source.n else None
        text = trim_passage(source.passage.text, question, keep, span, source.passage.title)
        passage = dataclasses.replace(source.passage, text=text) if text != source.passage.text else source.passage
        out.append(dataclasses.replace(source, passage=passage))
    return out
