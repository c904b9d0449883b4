"""How well a reader answers held-out questions, and which passage rule it should use.

SQuAD's exact match and token F1 (as `rag eval answers` reports them) of each question under each
passage rule (`model.PASSAGE_CHOICES`), from one reading of its passages; training picks its best
model and the rule by these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ..answer_text import exact_match, token_f1
from .labels import answer_spans
from .model import PASSAGE_CHOICES, Reader

Item = tuple[str, Sequence[str], Sequence[str]]  # (question, gold answers, passages read)


@dataclass
class Outcome:
    """How one held-out question went under one passage rule."""

    em: float
    f1: float
    passage_has_answer: bool  # the answer's passage holds a gold answer
    answerable: bool  # some passage read holds one


def rule_outcomes(reader: Reader, items: Sequence[Item], rules: Sequence[str]) -> dict[str, list[Outcome]]:
    """Each question's outcome under each passage rule, from one reading of its passages."""
    out: dict[str, list[Outcome]] = {rule: [] for rule in rules}
    reader.eval()
    for question, answers, contexts in items:
        holds = [bool(answer_spans(c, answers)) for c in contexts]  # matched once per passage
        reading = reader.score(question, contexts)
        for rule in rules:
            spans = reading.best(rule) if reading is not None else []
            if not spans:
                out[rule].append(Outcome(0.0, 0.0, False, any(holds)))
                continue
            text = spans[0].text
            out[rule].append(
                Outcome(exact_match(text, answers), token_f1(text, answers), holds[spans[0].passage], any(holds))
            )
    return out


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float]:
    """Exact match, token F1 and how often the answer's passage holds a gold answer, in percent; the
    same over the questions whose passages hold an answer (the reader's own skill)."""
    n = len(outcomes)
    if not n:
        return {"em": 0.0, "f1": 0.0, "passage_has_answer": 0.0, "questions": 0}
    can = [o for o in outcomes if o.answerable]

    def pct(values: Sequence[float], total: int) -> float:
        return round(100 * sum(values) / total, 2) if total else 0.0

    return {
        "em": pct([o.em for o in outcomes], n),
        "f1": pct([o.f1 for o in outcomes], n),
        "passage_has_answer": pct([o.passage_has_answer for o in outcomes], n),
        "questions": n,
        "answerable": len(can),
        "em_answerable": pct([o.em for o in can], len(can)),
        "f1_answerable": pct([o.f1 for o in can], len(can)),
    }


def evaluate_reader(reader: Reader, items: Sequence[Item]) -> dict[str, float]:
    """`summarize` over `(question, answers, contexts)` items, read with the reader's passage rule
    (SQuAD's exact match and token F1, as `rag eval answers` reports them)."""
    return summarize(rule_outcomes(reader, items, [reader.passage_choice])[reader.passage_choice])


def choose_passage_rule(reader: Reader, validation: Sequence[Item]) -> dict:
    """Set `reader.passage_choice` by the held-out questions: DPR's selection head only when it beats the
    retriever's order by more than chance (a sign test on per-question F1: wins - losses > 2 sqrt(wins +
    losses)), else the retriever's order, which a reader trained on few questions does better with
    (README, "Choosing the answer's passage"). Returns both rules' scores and the test's counts."""
    outcomes = rule_outcomes(reader, validation, PASSAGE_CHOICES)
    pairs = list(zip(outcomes["selection"], outcomes["retriever"]))
    wins = sum(s.f1 > r.f1 for s, r in pairs)
    losses = sum(r.f1 > s.f1 for s, r in pairs)
    reader.passage_choice = "selection" if wins - losses > 2 * math.sqrt(wins + losses) else "retriever"
    return {
        "chosen": reader.passage_choice,
        "selection": summarize(outcomes["selection"]),
        "retriever": summarize(outcomes["retriever"]),
        "selection_wins": wins,
        "selection_losses": losses,
    }
