"""Training a cross-encoder reranker (`rag train-reranker`) on the examples DPR training mines: each question
with its positive passage and its BM25 and dense hard negatives, scored jointly by one transformer starting
from the shipped MiniLM (its classifier head new).

The loss is localized contrastive estimation (Gao et al. 2021, "Rethink Training of BERT Rerankers"): the
softmax cross-entropy of the positive within its question's group. Pointwise binary cross-entropy, used
before, settled on the label prior (one positive in seven) with our few hundred questions and ranked no
better than chance; a constant score cannot lower this loss."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ..encoders import resolve_model_path
from ..errors import RagError
from .data import TrainingExample

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

RECORD_FILE = "reranker.json"


@dataclass
class RerankerConfig:
    base: str = "all-MiniLM-L6-v2"
    epochs: int = 2
    questions_per_step: int = 2
    learning_rate: float = 5e-5
    max_length: int = 192
    seed: int = 42

    def validate(self) -> None:
        if self.epochs < 1 or self.questions_per_step < 1 or self.max_length < 16 or not 0 < self.learning_rate < 1:
            raise RagError(
                "train-reranker: --epochs and --questions-per-step at least 1, --max-length at least 16, "
                "--learning-rate between 0 and 1"
            )


def groups_of(examples: Sequence[TrainingExample]) -> list[tuple[str, list[str]]]:
    """(question, [positive, *negatives]) for every example with a negative: one softmax group each."""
    return [(e.question, [e.positive, *e.negatives]) for e in examples if e.negatives]


def group_loss(logits: "torch.Tensor", sizes: Sequence[int]) -> "torch.Tensor":
    """Mean over groups of -log softmax(scores)[positive], the positive first in each group of `sizes`."""
    import torch

    losses, start = [], 0
    for size in sizes:
        losses.append(-torch.log_softmax(logits[start : start + size], dim=0)[0])
        start += size
    return torch.stack(losses).mean()


def train_cross_encoder(
    examples: Sequence[TrainingExample],
    out_dir: str | Path,
    config: RerankerConfig,
    *,
    record: dict | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> Path:
    """Train on `examples` and save a CrossEncoder directory at `out_dir`, with `reranker.json` saying how."""
    import torch
    from sentence_transformers import CrossEncoder

    config.validate()
    groups = groups_of(examples)
    if not groups:
        raise RagError(
            "train-reranker: no negatives to learn from; mine them with --hard-negatives or "
            "--dense-negatives over a collection"
        )
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    model = CrossEncoder(
        str(resolve_model_path(config.base)),
        num_labels=1,
        max_length=config.max_length,
        local_files_only=True,
        device="cpu",
    )
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    steps = config.epochs * -(-len(groups) // config.questions_per_step)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, steps // 10)) * max(0.0, 1 - step / steps)
    )
    started, losses = time.perf_counter(), []
    model.model.train()
    for epoch in range(config.epochs):
        rng.shuffle(groups)
        total = 0.0
        for start in range(0, len(groups), config.questions_per_step):
            batch = groups[start : start + config.questions_per_step]
            inputs = model.tokenizer(
                [q for q, passages in batch for _ in passages],
                [p for _, passages in batch for p in passages],
                padding=True,
                truncation="only_second",
                max_length=config.max_length,
                return_tensors="pt",
            )
            loss = group_loss(model.model(**inputs).logits.squeeze(-1), [len(passages) for _, passages in batch])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        losses.append(round(total / len(groups), 4))
        log(f"epoch {epoch + 1}/{config.epochs}: loss {losses[-1]} ({time.perf_counter() - started:.0f} s)")
    model.model.eval()
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    summary = {
        "config": asdict(config),
        "examples": len(examples),
        "groups": len(groups),
        "pairs": sum(len(passages) for _, passages in groups),
        "loss": "localized contrastive estimation (softmax over each question's positive and negatives)",
        "epoch_losses": losses,
        "seconds": round(time.perf_counter() - started, 1),
        **(record or {}),
    }
    (out / RECORD_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return out
