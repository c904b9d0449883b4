"""Training DPR's reader: span loss on a positive passage plus passage selection against negatives.

For each question one positive passage (holding the answer) and up to `passages - 1` negatives
are read together. The selection loss is a cross-entropy that puts the positive's `[CLS]` score
above the negatives'; the span loss is the marginal likelihood of all gold spans in the positive
(distant supervision gives every occurrence of the answer, and any of them may be the right one),
as in DPR section 6. The best model on the held-out questions (exact match, then F1) is saved,
with the passage rule (selection head or retriever order) that does better on them.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .answers import normalize
from .encoders import DEFAULT_MODEL, model_name
from .errors import RagError
from .reader import Reader
from .reader_data import ReaderExample


@dataclass
class ReaderTrainConfig:
    base: str = DEFAULT_MODEL
    epochs: int = 3  # held-out EM still rose at the third epoch; see README, "The reader"
    passages: int = 4            # read together per question: one positive and up to passages-1 negatives (DPR: 24)
    questions_per_step: int = 4  # gradient accumulated over this many questions per optimiser step
    learning_rate: float = 1e-4   # 5e-5 gave a third of the EM in the same time
    head_learning_rate: float = 1e-3  # the heads start from nothing
    warmup_ratio: float = 0.1
    max_length: int = 256
    max_answer_tokens: int = 10
    seed: int = 42
    device: str | None = None

    def validate(self) -> None:
        for name in ("epochs", "passages", "questions_per_step", "max_length", "max_answer_tokens"):
            if getattr(self, name) < 1:
                raise RagError(f"{name.replace('_', '-')} must be at least 1")
        if self.learning_rate <= 0 or self.head_learning_rate <= 0:
            raise RagError("learning rates must be positive")


@dataclass
class ReaderTrainResult:
    out_dir: Path
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss of the step)
    validation: list[dict[str, float]] = field(default_factory=list)  # per epoch; index 0 is before training
    best_epoch: int = 0
    seconds: float = 0.0
    record: dict = field(default_factory=dict)


def token_spans(batch: Any, row: int, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans of the passage in `row` as token spans; spans cut off by truncation are dropped."""
    out = []
    for start, end in spans:
        s = batch.char_to_token(row, start, sequence_index=1)
        e = batch.char_to_token(row, end - 1, sequence_index=1)
        if s is not None and e is not None and s <= e:
            out.append((s, e))
    return out


def example_loss(reader: Reader, example: ReaderExample, passages: int, rng: random.Random) -> Any:
    """The loss of one question (None when truncation cut every gold span out of its positive)."""
    import torch

    context, spans = rng.choice(example.positives)
    contexts = [context] + example.negatives[: passages - 1]
    batch = reader.tokenize(example.question, contexts)
    gold = token_spans(batch, 0, spans)
    if not gold:
        return None
    start, end, select = reader.forward(batch)
    log_start = torch.log_softmax(start[0], dim=-1)
    log_end = torch.log_softmax(end[0], dim=-1)
    span_loss = -torch.logsumexp(torch.stack([log_start[s] + log_end[e] for s, e in gold]), dim=0)
    if len(contexts) == 1:
        return span_loss
    select_loss = torch.nn.functional.cross_entropy(select.unsqueeze(0), torch.zeros(1, dtype=torch.long,
                                                                                        device=select.device))
    return span_loss + select_loss


def _f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def evaluate_reader(reader: Reader, items: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> dict[str, float]:
    """Exact match, token F1 (answers compared normalised: lower case, word tokens) and how often the
    answer's passage holds a gold answer, in percent, over `(question, answers, contexts)` items."""
    from .reader_data import answer_spans

    if not items:
        return {"em": 0.0, "f1": 0.0, "passage_has_answer": 0.0, "questions": 0}
    em = f1 = hit = 0.0
    answerable = answerable_em = answerable_f1 = 0.0
    reader.eval()
    for question, answers, contexts in items:
        spans = reader.read(question, contexts)
        holds = [bool(answer_spans(c, answers)) for c in contexts]  # matched once per passage
        can = any(holds)
        answerable += can
        if not spans:
            continue
        text = spans[0].text
        right = float(any(normalize(text) == normalize(a) for a in answers))
        overlap = max(_f1(text, a) for a in answers)
        em, f1 = em + right, f1 + overlap
        hit += float(holds[spans[0].passage])
        if can:
            answerable_em, answerable_f1 = answerable_em + right, answerable_f1 + overlap
    n = len(items)
    return {"em": round(100 * em / n, 2), "f1": round(100 * f1 / n, 2), "passage_has_answer": round(100 * hit / n, 2),
            "questions": n, "answerable": int(answerable),  # questions with an answer in the passages read
            "em_answerable": round(100 * answerable_em / answerable, 2) if answerable else 0.0,
            "f1_answerable": round(100 * answerable_f1 / answerable, 2) if answerable else 0.0}


def choose_passage_rule(reader: Reader, validation: Sequence[tuple[str, Sequence[str], Sequence[str]]],
                        selection_scores: dict[str, float]) -> dict:
    """Set `reader.passage_choice` to the rule better on the held-out questions (exact match, then F1);
    "selection" (DPR's) unless the retriever's order is strictly better. Returns both scores."""
    reader.passage_choice = "retriever"
    retriever_scores = evaluate_reader(reader, validation)
    better = (retriever_scores["em"], retriever_scores["f1"]) > (selection_scores["em"], selection_scores["f1"])
    reader.passage_choice = "retriever" if better else "selection"
    return {"chosen": reader.passage_choice, "selection": selection_scores, "retriever": retriever_scores}


def train_reader(examples: Sequence[ReaderExample], out_dir: str | Path, config: ReaderTrainConfig, *,
                 validation: Sequence[tuple[str, Sequence[str], Sequence[str]]] = (), provenance: dict | None = None,
                 progress: bool = True, log: Callable[[str], None] | None = None) -> ReaderTrainResult:
    """Train a reader from `config.base` on `examples` and save the best one to `out_dir`."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    config.validate()
    usable = [e for e in examples if e.positives]
    if len(usable) < 2:
        raise RagError(f"{len(usable)} usable reader examples (with a passage holding the answer); training needs at least 2")
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    reader = Reader(config.base, max_length=config.max_length, max_answer_tokens=config.max_answer_tokens,
                    device=config.device)
    heads = list(reader.span_head.parameters()) + list(reader.select_head.parameters())
    optimizer = torch.optim.AdamW([
        {"params": list(reader.encoder.parameters()), "lr": config.learning_rate},
        {"params": heads, "lr": config.head_learning_rate},
    ], weight_decay=0.01)
    steps_per_epoch = math.ceil(len(usable) / config.questions_per_step)
    total = steps_per_epoch * config.epochs
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    result = ReaderTrainResult(out_dir=Path(out_dir))
    say = log or (lambda line: None)
    started = time.perf_counter()
    best_key: tuple[float, float] | None = None
    best_state: dict | None = None
    if validation:
        result.validation.append(evaluate_reader(reader, validation))
        say(f"held-out before training: EM {result.validation[0]['em']:.1f}, F1 {result.validation[0]['f1']:.1f}")
    step = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="training reader", unit="step")
    try:
        for epoch in range(1, config.epochs + 1):
            order = list(usable)
            rng.shuffle(order)
            reader.train()
            for first in range(0, len(order), config.questions_per_step):
                group = order[first : first + config.questions_per_step]
                optimizer.zero_grad()
                losses = []
                for example in group:
                    loss = example_loss(reader, example, config.passages, rng)
                    if loss is None:
                        continue
                    (loss / len(group)).backward()
                    losses.append(float(loss.detach()))
                torch.nn.utils.clip_grad_norm_(reader.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                step += 1
                if losses:
                    result.losses.append((step, sum(losses) / len(losses)))
                if bar is not None:
                    bar.update(1)
                    if result.losses:
                        bar.set_postfix(loss=f"{result.losses[-1][1]:.3f}")
            if validation:
                scores = evaluate_reader(reader, validation)
                result.validation.append(scores)
                say(f"epoch {epoch}: held-out EM {scores['em']:.1f}, F1 {scores['f1']:.1f}")
                key = (scores["em"], scores["f1"])
                if best_key is None or key > best_key:
                    best_key, result.best_epoch = key, epoch
                    best_state = {name: {k: v.detach().clone() for k, v in m.state_dict().items()}
                                  for name, m in (("encoder", reader.encoder), ("span", reader.span_head),
                                                  ("select", reader.select_head))}
            else:
                result.best_epoch = epoch
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        reader.encoder.load_state_dict(best_state["encoder"])
        reader.span_head.load_state_dict(best_state["span"])
        reader.select_head.load_state_dict(best_state["select"])
    choice = choose_passage_rule(reader, validation, result.validation[result.best_epoch]) if validation else None
    result.seconds = round(time.perf_counter() - started, 1)
    result.record = {
        "base_model": model_name(config.base),
        "config": {k: v for k, v in asdict(config).items() if k != "device"},
        "data": {"examples": len(usable), "provenance": provenance or {}},
        "steps": step, "best_epoch": result.best_epoch, "seconds": result.seconds,
        "loss": {"first": result.losses[0][1] if result.losses else None,
                 "last": result.losses[-1][1] if result.losses else None},
        "validation": result.validation,
        "passage_choice": choice,
    }
    reader.save(out_dir, {"training": result.record})
    return result
