"""Answer text, in one place: DPR's matching (does a passage hold the answer?) and SQuAD's scoring
(is a predicted answer the gold one?), each named for what it is.

DPR's match (`normalize`, `has_answer`): a passage has the answer when a normalised gold answer is a
substring of the normalised passage: lower case, Unicode NFD, `\\w+` tokens joined by single spaces,
padded with a space on both sides (so "1972" does not match "19721"). It mines training positives
and scores retrieval. SQuAD's scoring (`normalize_answer`, `exact_match`, `token_f1`): lower case, no
punctuation, no articles, so "the Beatles" is "Beatles"; reader training picks its best epoch by it
and `rag eval answers` reports it, so the two agree.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

_TOKEN = re.compile(r"\w+")


def normalize(text: str) -> str:
    tokens = _TOKEN.findall(unicodedata.normalize("NFD", text.lower()))
    return f" {' '.join(tokens)} "


def has_answer(answers: Sequence[str], normalized_passage: str) -> bool:
    """`answers` and the passage must already be normalised."""
    return any(a in normalized_passage for a in answers)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD's exact match: 1.0 when the normalised prediction equals any normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """SQuAD's token F1, the best over the gold answers."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        if not pred or not ref:
            best = max(best, float(pred == ref))
            continue
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def first_time(question: str, seen: set[str]) -> bool:
    """True the first time a question is met (compared normalised); records it in `seen`."""
    key = normalize(question)
    if key in seen:
        return False
    seen.add(key)
    return True


@dataclass
class Question:
    question: str
    answers: list[str]  # normalised, non-empty
    written: list[str] = field(default_factory=list)  # the usable answers as the file writes them (for reports)


@dataclass
class QAFile:
    """The usable questions of a question-answer file and what was left out, by reason."""

    questions: list[Question]
    invalid: list[str] = field(default_factory=list)  # "line N: why"
    empty_answers: int = 0
    duplicates: int = 0

    def problems(self) -> str:
        parts = []
        if self.invalid:
            parts.append(f"{len(self.invalid)} malformed lines (first: {self.invalid[0]})")
        if self.empty_answers:
            parts.append(f"{self.empty_answers} with no usable answer")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate questions")
        return "; ".join(parts)


def read_qa(path: str | Path, *, strict: bool = False) -> QAFile:
    """Read NQ-open / EfficientQA jsonl (`{"question": str, "answer": [str, ...]}` per line).

    Malformed lines, questions without a usable answer and repeated questions are skipped and
    counted; `strict=True` raises `ValueError` at the first malformed line instead.
    """
    out = QAFile([])
    seen: set[str] = set()
    with open(path, encoding="utf-8-sig", errors="replace") as fh:  # a leading BOM is dropped
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                question, answers = record["question"], record["answer"]
                if isinstance(answers, str):
                    answers = [answers]
                if not isinstance(question, str) or not isinstance(answers, list):
                    raise TypeError("question must be a string and answer a list of strings")
                written = [a.strip() for a in answers if isinstance(a, str)]
            except (ValueError, KeyError, TypeError) as exc:
                reason = f'line {number}: expected {{"question": str, "answer": [str, ...]}} ({exc})'
                if strict:
                    raise ValueError(f"{path}, {reason}") from None
                out.invalid.append(reason)
                continue
            written = list(dict.fromkeys(a for a in written if normalize(a).strip()))
            normalized = [normalize(a) for a in written]
            if not question.strip() or not normalized:
                out.empty_answers += 1
                continue
            if not first_time(question, seen):
                out.duplicates += 1
                continue
            out.questions.append(Question(question.strip(), normalized, written))
    return out


def answer_passage_counts(questions: Sequence[Question], passages: Iterable[str]) -> list[int]:
    """For each question, how many passages contain one of its answers."""
    normalized = [normalize(p) for p in passages]
    return [sum(1 for p in normalized if has_answer(q.answers, p)) for q in questions]
