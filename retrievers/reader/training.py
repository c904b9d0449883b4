"""Training DPR's reader: span loss on a positive passage plus passage selection against negatives.

For each question one positive passage (holding the answer) and up to `passages - 1` negatives
are read together. The selection loss is a cross-entropy that puts the positive's `[CLS]` score
above the negatives'; the span loss is the marginal likelihood of all gold spans in the positive
(distant supervision gives every occurrence of the answer, and any of them may be the right one),
as in DPR section 6. An optional first pass trains the span head alone on cloze questions made
from raw passages (`cloze`). The best model on the held-out questions (exact match, then F1)
is saved, with the passage rule (selection head or retriever order) they support.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..encoders import DEFAULT_MODEL, model_name
from ..encoders.lora import LoraSpec, add_lora, concatenate, merge_lora, save_delta
from ..errors import RagError
from .evaluation import Item, choose_passage_rule, evaluate_reader
from .labels import ReaderExample
from .losses import example_loss, span_loss_batch
from .model import Reader


@dataclass
class ReaderTrainConfig:
    base: str = DEFAULT_MODEL
    epochs: int = 3  # held-out EM still rose at the third epoch; see README, "The reader"
    passages: int = 4  # read together per question: one positive and up to passages-1 negatives (DPR: 24)
    questions_per_step: int = 4  # gradient accumulated over this many questions per optimiser step
    learning_rate: float = 1e-4  # 5e-5 gave a third of the EM in the same time
    head_learning_rate: float = 1e-3  # the heads start from nothing
    warmup_ratio: float = 0.1
    max_length: int = 256
    max_answer_tokens: int = 10
    cloze_batch: int = 16  # cloze questions per optimiser step in the pretraining pass
    seeds: int = 1  # readers trained from one start on different data orders, weights averaged
    lora_rank: int = 0  # above 0: the encoder trains a LoRA delta of this rank (what ships), not every weight
    lora_alpha: float = 32.0
    seed: int = 42
    device: str | None = None

    def validate(self) -> None:
        for name in (
            "epochs",
            "passages",
            "questions_per_step",
            "max_length",
            "max_answer_tokens",
            "cloze_batch",
            "seeds",
        ):
            if getattr(self, name) < 1:
                raise RagError(f"{name.replace('_', '-')} must be at least 1")
        if self.learning_rate <= 0 or self.head_learning_rate <= 0:
            raise RagError("learning rates must be positive")
        if self.lora_rank < 0:
            raise RagError("lora-rank must not be negative")

    def lora(self) -> LoraSpec | None:
        return LoraSpec(rank=self.lora_rank, alpha=self.lora_alpha) if self.lora_rank else None


@dataclass
class ReaderTrainResult:
    out_dir: Path
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss of the step)
    validation: list[dict[str, float]] = field(default_factory=list)  # per epoch; index 0 is before training
    best_epoch: int = 0
    pretraining: dict = field(default_factory=dict)  # the cloze pass (`pretrain_spans`): examples, steps, time, loss
    members: list[dict] = field(default_factory=list)  # per trained reader: seed, best epoch, its held-out scores
    soup: dict = field(default_factory=dict)  # held-out scores of the averaged weights (`seeds` > 1)
    seconds: float = 0.0
    record: dict = field(default_factory=dict)


def _optimizer(reader: Reader, config: ReaderTrainConfig, *, select: bool = True) -> Any:
    """AdamW with the encoder at `learning_rate` and the heads (the selection head only if `select`)
    at `head_learning_rate`."""
    import torch

    heads = list(reader.span_head.parameters()) + (list(reader.select_head.parameters()) if select else [])
    encoder = [p for p in reader.encoder.parameters() if p.requires_grad]  # a LoRA adapter's only, if it has one
    return torch.optim.AdamW(
        [{"params": encoder, "lr": config.learning_rate}, {"params": heads, "lr": config.head_learning_rate}],
        weight_decay=0.01,
    )


def _length_batches(
    examples: Sequence[ReaderExample], size: int, rng: random.Random, pool: int = 50
) -> list[list[ReaderExample]]:
    """Batches of `size` drawn from pools of `pool` batches sorted by passage length (less padding, so
    about a third less time on short passages), in shuffled order."""
    batches = []
    for first in range(0, len(examples), size * pool):
        chunk = sorted(examples[first : first + size * pool], key=lambda e: len(e.question) + len(e.positives[0][0]))
        batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
    rng.shuffle(batches)
    return batches


def _step_bar(total: int, desc: str, progress: bool) -> Any:
    """A progress bar over optimiser steps; a silent one without `progress`."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not progress)


def pretrain_spans(
    reader: Reader, examples: Sequence[ReaderExample], config: ReaderTrainConfig, *, progress: bool = True
) -> dict:
    """One pass of span training over `examples` (cloze questions, `cloze`), `config.cloze_batch`
    per step, with its own warm-up and linear decay; the selection head is left to the main training."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    rng = random.Random(config.seed)
    order = [e for e in examples if e.positives]
    rng.shuffle(order)
    batches = _length_batches(order, config.cloze_batch, rng)
    optimizer = _optimizer(reader, config, select=False)
    total = len(batches)
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    losses: list[float] = []
    reader.train()
    started = time.perf_counter()
    with _step_bar(total, "cloze pretraining", progress) as bar:
        for batch in batches:
            optimizer.zero_grad()
            loss = span_loss_batch(reader, batch)
            if loss is not None:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(reader.parameters(), 1.0)
                optimizer.step()
                losses.append(float(loss.detach()))
            schedule.step()
            bar.update(1)
            if losses:
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    reader.eval()
    head = losses[: max(1, len(losses) // 10)]
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "examples": len(order),
        "steps": total,
        "seconds": round(time.perf_counter() - started, 1),
        "loss": {"first": sum(head) / len(head) if head else None, "last": sum(tail) / len(tail) if tail else None},
    }


def _state(reader: Reader) -> dict:
    """A detached copy of the reader's weights (encoder and both heads)."""
    return {
        name: {k: v.detach().clone() for k, v in module.state_dict().items()}
        for name, module in (("encoder", reader.encoder), ("span", reader.span_head), ("select", reader.select_head))
    }


def _load_state(reader: Reader, state: dict) -> None:
    reader.encoder.load_state_dict(state["encoder"])
    reader.span_head.load_state_dict(state["span"])
    reader.select_head.load_state_dict(state["select"])


def average_states(states: Sequence[dict]) -> dict:
    """The element-wise mean of readers' weights (a uniform model soup); integer buffers are taken
    from the first."""
    import torch

    out: dict = {}
    for name, first in states[0].items():
        out[name] = {
            k: (torch.stack([s[name][k] for s in states]).mean(dim=0) if v.is_floating_point() else v.clone())
            for k, v in first.items()
        }
    return out


def _train_member(
    reader: Reader,
    usable: Sequence[ReaderExample],
    config: ReaderTrainConfig,
    seed: int,
    validation: Sequence[Item],
    result: ReaderTrainResult,
    step: int,
    bar: Any,
    say: Callable[[str], None],
) -> tuple[dict | None, int, list[dict[str, float]], int]:
    """Train `reader` in place for `config.epochs` with data order and dropout from `seed`, counting
    optimiser steps on from `step`; returns the weights of its best epoch on `validation` (None without
    validation: keep the last), that epoch, the per-epoch scores and the step count reached. Losses
    are appended to `result.losses`."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    optimizer = _optimizer(reader, config)
    total = math.ceil(len(usable) / config.questions_per_step) * config.epochs
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    best_key: tuple[float, float] | None = None
    best_state: dict | None = None
    best_epoch, scores_by_epoch = config.epochs, []
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
            bar.update(1)
            if result.losses:
                bar.set_postfix(loss=f"{result.losses[-1][1]:.3f}")
        if validation:
            scores = evaluate_reader(reader, validation)
            scores_by_epoch.append(scores)
            say(f"epoch {epoch}: held-out EM {scores['em']:.1f}, F1 {scores['f1']:.1f}")
            key = (scores["em"], scores["f1"])
            if best_key is None or key > best_key:
                best_key, best_epoch, best_state = key, epoch, _state(reader)
    reader.eval()
    return best_state, best_epoch, scores_by_epoch, step


def train_reader(
    examples: Sequence[ReaderExample],
    out_dir: str | Path,
    config: ReaderTrainConfig,
    *,
    validation: Sequence[Item] = (),
    provenance: dict | None = None,
    pretrain: Sequence[ReaderExample] = (),
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    on_member: Callable[[int, Reader], None] | None = None,
) -> ReaderTrainResult:
    """Train a reader from `config.base` on `examples` and save the best one to `out_dir`; with
    `pretrain` (cloze questions), a pass of span training on them comes first.

    With `config.seeds` > 1, that many readers are trained from the same start (data order and dropout
    from seeds `seed`, `seed + 1`, ...) and their weights averaged, which evens out the run-to-run
    noise of training on few questions; `on_member(i, reader)` sees each before the averaging.
    """
    import torch

    config.validate()
    usable = [e for e in examples if e.positives]
    if len(usable) < 2:
        raise RagError(
            f"{len(usable)} usable reader examples (with a passage holding the answer); training needs at least 2"
        )
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    reader = Reader(
        config.base, max_length=config.max_length, max_answer_tokens=config.max_answer_tokens, device=config.device
    )
    if config.lora() is not None:
        add_lora(reader.encoder, config.lora())
    result = ReaderTrainResult(out_dir=Path(out_dir))
    say = log or (lambda line: None)
    started = time.perf_counter()
    if pretrain:
        result.pretraining = pretrain_spans(reader, pretrain, config, progress=progress)
        say(
            f"cloze pretraining: {result.pretraining['examples']} questions, loss "
            f"{result.pretraining['loss']['first']:.3f} -> {result.pretraining['loss']['last']:.3f}"
        )
    if validation:
        result.validation.append(evaluate_reader(reader, validation))
        when = "after cloze pretraining" if pretrain else "before training"
        say(f"held-out {when}: EM {result.validation[0]['em']:.1f}, F1 {result.validation[0]['f1']:.1f}")
    states, step = _train_members(reader, usable, config, validation, result, progress, say, on_member)
    delta = None
    if config.lora() is not None:  # the members' deltas averaged exactly, merged into a plain reader
        reader, delta, spec = _merged_reader(config, states)
    elif states:
        _load_state(reader, average_states(states))
    if config.seeds > 1:
        if validation:
            result.soup = evaluate_reader(reader, validation)
            say(
                f"averaged weights of {len(states)} readers: held-out EM {result.soup['em']:.1f}, "
                f"F1 {result.soup['f1']:.1f}"
            )
    choice = choose_passage_rule(reader, validation) if validation else None
    result.seconds = round(time.perf_counter() - started, 1)
    result.record = _record(config, result, len(usable), provenance, step, choice)
    if delta is not None:
        result.record["lora"] = spec.to_dict()
    reader.save(out_dir, {"training": result.record})
    if delta is not None:
        save_delta(out_dir, delta, spec)
    return result


def _record(
    config: ReaderTrainConfig, result: ReaderTrainResult, examples: int, provenance: dict | None, step: int, choice: Any
) -> dict:
    """What `rag_training.json` says of a reader: its base, recipe, data, curves and held-out figures."""
    return {
        "base_model": model_name(config.base),
        "config": {k: v for k, v in asdict(config).items() if k != "device"},
        "data": {"examples": examples, "provenance": provenance or {}},
        "pretraining": result.pretraining or None,
        "steps": step,
        "best_epoch": result.best_epoch,
        "seconds": result.seconds,
        "loss": {
            "first": result.losses[0][1] if result.losses else None,
            "last": result.losses[-1][1] if result.losses else None,
        },
        "validation": result.validation,
        "members": result.members if config.seeds > 1 else None,
        "averaged": result.soup or None,
        "passage_choice": choice,
    }


def _train_members(
    reader: Reader,
    usable: Sequence[ReaderExample],
    config: ReaderTrainConfig,
    validation: Sequence[Item],
    result: ReaderTrainResult,
    progress: bool,
    say: Callable[[str], None],
    on_member: Callable[[int, Reader], None] | None,
) -> tuple[list[dict], int]:
    """Train `config.seeds` readers from the reader's current weights, each on its own data order, keeping
    each one's best epoch; returns their weights (to average) and the steps taken."""
    start = _state(reader) if config.seeds > 1 else None
    states, step = [], 0
    total = math.ceil(len(usable) / config.questions_per_step) * config.epochs * config.seeds
    with _step_bar(total, "training reader", progress) as bar:
        for m in range(config.seeds):
            if m:
                _load_state(reader, start)
                say(f"reader {m + 1} of {config.seeds} (seed {config.seed + m})")
            best, best_epoch, scores, step = _train_member(
                reader, usable, config, config.seed + m, validation, result, step, bar, say
            )
            if best is not None:
                _load_state(reader, best)
            if on_member is not None:
                on_member(m, reader)
            if m == 0:
                result.validation.extend(scores)
                result.best_epoch = best_epoch
            result.members.append(
                {
                    "seed": config.seed + m,
                    "best_epoch": best_epoch,
                    "validation": scores[best_epoch - 1] if scores else None,
                }
            )
            if config.seeds > 1 or config.lora() is not None:
                states.append(best or _state(reader))
    return states, step


def member_delta(state: dict) -> dict:
    """The LoRA matrices of one member's saved weights, keyed like the base weights."""
    return {k.replace(".default", ""): v for k, v in state["encoder"].items() if ".lora_" in k}


def _merged_reader(config: ReaderTrainConfig, states: Sequence[dict]) -> tuple[Reader, dict, LoraSpec]:
    """A plain reader (no adapter modules) holding the mean of the members' deltas (rounded to fp16 as
    shipped) and the mean of their heads: what the saved delta loads as."""
    delta, spec = concatenate([member_delta(s) for s in states], config.lora())
    delta = {k: v.half().float() for k, v in delta.items()}
    plain = Reader(
        config.base, max_length=config.max_length, max_answer_tokens=config.max_answer_tokens, device=config.device
    )
    merge_lora(plain.encoder, delta, spec)
    heads = average_states([{"span": s["span"], "select": s["select"]} for s in states])
    plain.span_head.load_state_dict(heads["span"])
    plain.select_head.load_state_dict(heads["select"])
    plain.to(plain.device)
    plain.eval()
    return plain, delta, spec
