"""Citations: the [n] markers an answer carries, an answer's citations checked (`cite`: an uncited answer is
tied to the passage that supports it, or refused), and a short generated answer tied to the span of a cited
passage it matches (`snap_to_span`)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

from prompts.delimiters import passage_block
from retrievers.passages import Passage

from .types import ShortAnswer, Source

CITATION = re.compile(r"\[(\d{1,3})\]")
_WORD = re.compile(r"[a-z0-9]{3,}")
_SPAN_WORD = re.compile(r"\w+")
_PREAMBLE = re.compile(r"^(the )?answer( to (this|the) question)?( is)?\s*:\s*", re.IGNORECASE)


def snap_to_span(answer: str, cited: Sequence[Source], max_words: int = 12) -> ShortAnswer | None:
    """A short generated answer tied to the span of a cited passage it matches best (token F1 at least 0.5).

    Generated text paraphrases; the span is what the passage says, checkable and highlightable.
    Long answers are sentences, not short answers, and are left alone.
    """
    words = [w.lower() for w in _SPAN_WORD.findall(CITATION.sub("", answer))]
    if not words or len(words) > max_words or not cited:
        return None
    target = Counter(words)
    best: tuple[float, int, int, Source] | None = None
    for source in cited:
        context = source.passage.indexed_text
        spans = [(m.start(), m.end(), m.group().lower()) for m in _SPAN_WORD.finditer(context)]
        for size in range(max(1, len(words) - 2), len(words) + 3):
            for i in range(0, len(spans) - size + 1):
                window = Counter(w for _, _, w in spans[i : i + size])
                common = sum((window & target).values())
                if not common:
                    continue
                f1 = 2 * common / (size + len(words))
                if best is None or f1 > best[0]:
                    best = (f1, spans[i][0], spans[i + size - 1][1], source)
    if best is None or best[0] < 0.5:
        return None
    f1, start, end, source = best
    context = source.passage.indexed_text
    return ShortAnswer(
        text=context[start:end],
        source=source.n,
        passage_id=source.passage.id,
        start=start,
        end=end,
        context=context,
        score=f1,
        kind="snapped",
    )


def format_passage(n: int, passage: Passage) -> str:
    """One retrieved passage as a numbered block labelled with its title, file name and place in the file
    (`passage_block`)."""
    where = {"location": passage.location} if passage.location else {}
    return passage_block(passage.text, n=n, title=passage.title, source=passage.source.rsplit("/", 1)[-1], **where)


def content_words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def best_support(text: str, sources: list[Source]) -> tuple[Source | None, int]:
    words = content_words(text)
    scored = [(len(words & content_words(s.passage.text)), -s.n, s) for s in sources]
    if not scored:
        return None, 0
    overlap, _, best = max(scored, key=lambda item: (item[0], item[1]))
    return best, overlap


def strip_preamble(text: str) -> str:
    """The answer without the model's "The answer is:" opening."""
    return _PREAMBLE.sub("", text.strip()).strip()


def is_refusal(text: str, refusal: str) -> bool:
    low = text.lower()
    return refusal.lower().rstrip(".") in low or low.startswith(("i don't know", "i do not know"))


def cite(text: str, sources: list[Source], refusal: str) -> tuple[str, bool, str]:
    """Mark cited sources; an uncited answer is tied to the passage it overlaps most, or refused.

    Returns the final text, whether it is a refusal, and any text appended to the stream.
    """
    text = strip_preamble(text)
    if not text or is_refusal(text, refusal):
        return refusal, True, "" if text else refusal
    numbers = {int(n) for n in CITATION.findall(text)}
    valid = {s.n for s in sources}
    for source in sources:
        source.cited = source.n in numbers
    if numbers & valid:
        return text, False, ""
    best, overlap = best_support(text, sources)
    if best is None or overlap < 2:  # cites nothing and shares nothing with the passages: invented
        return refusal, True, f"\n{refusal}"
    best.cited = True
    return f"{text} [{best.n}]", False, f" [{best.n}]"
