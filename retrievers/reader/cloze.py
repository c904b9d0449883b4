"""Cloze questions made from passages, to pretrain the reader before distant supervision.

Labelled questions are few here (744 from NQ-open over wiki-vital), far too few to teach a small
encoder to line a question up with the sentence that answers it. Unsupervised QA (Lewis et al.,
2019) makes that skill from raw text: pick an answer-like span in a sentence (a date, a number, a
capitalised name), turn the sentence into a question by putting a wh-word in place of the span
("When was the tower completed in?"), add noise (dropped and locally shuffled words) so that it is
not a copy, and train the span head to find the answer in the passage. No model and no labels.
Measured on wiki-vital with 10,000 such questions it bought nothing (README, "Short answers: the reader";
docs/experiments/reader-cloze), so `rag train-reader` runs it only when asked (`--cloze N`).
"""

from __future__ import annotations

import random
import re
from typing import Iterable, Sequence

from .labels import ReaderExample, answer_spans

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
# Most specific first: a span already taken by a pattern is not offered again by a later one.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("when", re.compile(rf"\b(?:\d{{1,2}} {_MONTH}|{_MONTH} \d{{1,2}},?) \d{{3,4}}\b")),
    ("when", re.compile(rf"\b{_MONTH} \d{{3,4}}\b")),
    ("when", re.compile(r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b(?! (?:million|billion|thousand|people|km|kilometres|miles))")),
    ("how many", re.compile(r"\b\d[\d,.]*(?: (?:million|billion|thousand|hundred))?(?= [a-z])")),
    (
        "what",
        re.compile(
            r"(?<=[a-z,;] )(?:the )?[A-Z][\w'’.-]*"
            r"(?: (?:of |the |de |and |von |van |du |la )*[A-Z][\w'’.-]*){0,4}"
        ),
    ),
)
_DEMONYM = re.compile(r"(?:an|ese|ish|ic|i|ch|ian)$")
_MIN_WORDS, _MAX_WORDS = 6, 40


def answer_candidates(sentence: str) -> list[tuple[str, int, int]]:
    """(wh-word, start, end) of the answer-like spans of a sentence, without overlaps."""
    taken: list[tuple[int, int]] = []
    out = []
    for wh, pattern in _PATTERNS:
        for match in pattern.finditer(sentence):
            start, end = match.span()
            text = match.group().rstrip(".,")
            end = start + len(text)
            if not text or any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            out.append((wh, start, end))
    return out


def cloze_question(
    sentence: str,
    start: int,
    end: int,
    wh: str,
    rng: random.Random,
    *,
    window: int = 10,
    drop: float = 0.1,
    shuffle_window: int = 2,
) -> str:
    """The sentence as a question about `sentence[start:end]`: the wh-word first, then up to `window`
    words each side of the span (left out), each dropped with probability `drop` and moved at most
    `shuffle_window` - 1 places."""
    left = [w.strip(".,;:") for w in sentence[:start].split()][-window:]
    right = [w.strip(".,;:") for w in sentence[end:].split()][:window]
    words = [w for w in left + right if w and rng.random() >= drop]
    if shuffle_window > 1:
        keys = [i + rng.uniform(0, shuffle_window) for i in range(len(words))]
        words = [w for _, w in sorted(zip(keys, words))]
    return " ".join([wh.capitalize(), *words]) + "?"


def _adjective(sentence: str, end: int, answer: str) -> bool:
    """A nationality or language used as an adjective ("American actor"), which makes a poor answer."""
    follows = sentence[end:].split()[:1]
    return bool(follows and follows[0][:1].islower() and _DEMONYM.search(answer))


def sentences(passage: str) -> list[str]:
    """The sentences of `passage` (split after . ! ? before a capital, digit or quote)."""
    return [s for s in _SENTENCE.split(passage) if s.strip()]


def cloze_examples(passages: Iterable[str], count: int, *, seed: int = 42, per_passage: int = 2) -> list[ReaderExample]:
    """Up to `count` cloze examples from `passages` (at most `per_passage` from each), each with
    every occurrence of its answer in the passage as a gold span."""
    rng = random.Random(seed)
    pool = list(passages)
    rng.shuffle(pool)
    out: list[ReaderExample] = []
    for passage in pool:
        if len(out) >= count:
            break
        choices = []
        for sentence in sentences(passage):
            if _MIN_WORDS <= len(sentence.split()) <= _MAX_WORDS:
                choices.extend((sentence, c) for c in answer_candidates(sentence))
        rng.shuffle(choices)
        used: set[str] = set()
        for sentence, (wh, start, end) in choices:
            answer = re.sub(r"['’]s$", "", sentence[start:end])
            end = start + len(answer)
            if answer.lower() in used or len(answer.split()) > 5 or _adjective(sentence, end, answer):
                continue
            spans = answer_spans(passage, [answer])
            if not spans:
                continue
            used.add(answer.lower())
            question = cloze_question(sentence, start, end, wh, rng)
            out.append(ReaderExample(question=question, answers=[answer], positives=[(passage, spans)]))
            if len(used) >= per_passage or len(out) >= count:
                break
    return out


def describe(examples: Sequence[ReaderExample], k: int = 3) -> list[str]:
    """A few examples as "question -> answer" lines, for logs."""
    return [f"{e.question} -> {e.answers[0]}" for e in examples[:k]]
