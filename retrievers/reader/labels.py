"""Training data for the reader by distant supervision (DPR section 6, "Reader"), and from gold spans.

For data without gold spans (NQ-open: a question and answer strings), the retriever's top
passages are labelled: a passage holding a normalised gold answer is a positive, with every
occurrence of an answer as a gold span; the best-ranked passages without one are the negatives
the passage-selection score learns to put below it. SQuAD-style data gives the span directly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Sequence

from ..answer_text import normalize

_WORD = re.compile(r"\w+")


@dataclass
class ReaderExample:
    """One question with passages to read: positives carry their answer spans (character offsets)."""

    question: str
    answers: list[str]
    positives: list[tuple[str, list[tuple[int, int]]]] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)


@dataclass
class LabelReport:
    """What distant supervision made of a question set."""

    questions: int = 0
    with_positive: int = 0
    positives: int = 0
    spans: int = 0
    negatives: int = 0

    def summary(self) -> str:
        share = 100 * self.with_positive / self.questions if self.questions else 0.0
        return (
            f"{self.questions} questions, {self.with_positive} ({share:.1f}%) with an answer in a retrieved "
            f"passage: {self.positives} positive passages ({self.spans} answer spans), {self.negatives} negatives"
        )


def _normalized_words(text: str) -> list[tuple[str, int, int]]:
    """Each normalised word of `text` (as `answers.normalize` makes them) with the original characters it covers."""
    out = []
    for match in _WORD.finditer(text):
        for piece in _WORD.findall(unicodedata.normalize("NFD", match.group().lower())):
            out.append((piece, match.start(), match.end()))
    return out


def answer_spans(context: str, answers: Sequence[str]) -> list[tuple[int, int]]:
    """Every place a gold answer occurs in `context`, as (start, end) characters, matched the way
    `answers.has_answer` matches (lower case, NFD, word tokens), so "1972" does not match "19721".
    """
    words = _normalized_words(context)
    tokens = [w for w, _, _ in words]
    spans: set[tuple[int, int]] = set()
    for answer in answers:
        target = normalize(answer).split()
        if not target:
            continue
        n = len(target)
        for i in range(len(tokens) - n + 1):
            if tokens[i : i + n] == target:
                spans.add((words[i][1], words[i + n - 1][2]))
    return sorted(spans)


def label(
    question: str, answers: Sequence[str], contexts: Sequence[str], *, max_positives: int = 2, max_negatives: int = 3
) -> ReaderExample:
    """Label the retrieved `contexts` (best first) of one question by its answer strings."""
    example = ReaderExample(question=question, answers=list(answers))
    for context in contexts:
        spans = answer_spans(context, answers)
        if spans:
            if len(example.positives) < max_positives:
                example.positives.append((context, spans))
        elif len(example.negatives) < max_negatives:
            example.negatives.append(context)
    return example


def label_all(
    items: Sequence[tuple[str, Sequence[str], Sequence[str]]], *, max_positives: int = 2, max_negatives: int = 3
) -> tuple[list[ReaderExample], LabelReport]:
    """`label` over `(question, answers, retrieved contexts)` items; questions with no positive are dropped."""
    report = LabelReport()
    examples = []
    for question, answers, contexts in items:
        report.questions += 1
        example = label(question, answers, contexts, max_positives=max_positives, max_negatives=max_negatives)
        if not example.positives:
            continue
        report.with_positive += 1
        report.positives += len(example.positives)
        report.spans += sum(len(s) for _, s in example.positives)
        report.negatives += len(example.negatives)
        examples.append(example)
    return examples, report


def gold_span_example(
    question: str, context: str, answers: Sequence[tuple[str, int]], negatives: Sequence[str] = ()
) -> ReaderExample | None:
    """An example from SQuAD-style gold spans `(text, answer_start)`; spans that do not match the
    context at their offset are looked up by string instead, and an example with none is None."""
    spans = set()
    for text, start in answers:
        if start >= 0 and context[start : start + len(text)] == text and text.strip():
            spans.add((start, start + len(text)))
    if not spans:
        spans.update(answer_spans(context, [t for t, _ in answers]))
    if not spans:
        return None
    return ReaderExample(
        question=question,
        answers=[t for t, _ in answers],
        positives=[(context, sorted(spans))],
        negatives=list(negatives),
    )
