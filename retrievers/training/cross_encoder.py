"""Training a cross-encoder reranker (`rag train-reranker`) on the examples DPR training mines: each question
with its positive passage (label 1) and its BM25 and dense hard negatives (label 0), scored jointly by one
transformer with binary cross-entropy, starting from the shipped MiniLM (its classifier head new)."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..encoders import resolve_model_path
from ..errors import RagError
from .data import TrainingExample

logger = logging.getLogger(__name__)

RECORD_FILE = "reranker.json"


@dataclass
class RerankerConfig:
    base: str = "all-MiniLM-L6-v2"
    epochs: int = 2
    batch_size: int = 16
    learning_rate: float = 3e-5
    max_length: int = 192
    seed: int = 42

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.max_length < 16 or not 0 < self.learning_rate < 1:
            raise RagError(
                "train-reranker: --epochs and --batch-size at least 1, --max-length at least 16, "
                "--learning-rate between 0 and 1"
            )


def pairs_of(examples: Sequence[TrainingExample]) -> list[tuple[str, str, float]]:
    """(question, passage, label): the positive with 1, every hard negative with 0."""
    pairs = []
    for e in examples:
        pairs.append((e.question, e.positive, 1.0))
        pairs.extend((e.question, negative, 0.0) for negative in e.negatives)
    return pairs


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
    pairs = pairs_of(examples)
    if not pairs or all(label == 1.0 for *_, label in pairs):
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
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=config.learning_rate)
    steps = config.epochs * -(-len(pairs) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, steps // 10)) * max(0.0, 1 - step / steps)
    )
    started, losses = time.perf_counter(), []
    model.model.train()
    for epoch in range(config.epochs):
        rng.shuffle(pairs)
        total = 0.0
        for start in range(0, len(pairs), config.batch_size):
            batch = pairs[start : start + config.batch_size]
            inputs = model.tokenizer(
                [q for q, _, _ in batch],
                [p for _, p, _ in batch],
                padding=True,
                truncation="only_second",
                max_length=config.max_length,
                return_tensors="pt",
            )
            logits = model.model(**inputs).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([b[2] for b in batch]))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(batch)
        losses.append(round(total / len(pairs), 4))
        log(f"epoch {epoch + 1}/{config.epochs}: loss {losses[-1]} ({time.perf_counter() - started:.0f} s)")
    model.model.eval()
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    model.save(str(out))
    summary = {
        "config": asdict(config),
        "examples": len(examples),
        "pairs": len(pairs),
        "epoch_losses": losses,
        "seconds": round(time.perf_counter() - started, 1),
        **(record or {}),
    }
    (out / RECORD_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return out
