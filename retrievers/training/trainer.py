"""Fine-tuning DPR's dual encoder: in-batch negatives plus hard negatives, as in Karpukhin et al. 2020.

Built on the sentence-transformers trainer (seeded, checkpointed, resumable, evaluated on held-out
questions with early stopping on the best). The two encoders are either one shared model or, as in
DPR, two towers in one `Router` model (`encode_query` / `encode_document` pick the tower). The
output directory is a plain sentence-transformers model plus `rag_training.json`, which records the
base model, data, hyper-parameters and validation figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..encoders import DEFAULT_MODEL, model_name, resolve_model_path
from ..encoders.lora import LoraSpec, add_lora, lora_state, merge_lora
from ..environment import quiet_offline
from ..errors import RagError
from .callbacks import BestDelta, curves
from .data import TrainingExample
from .model_dir import CHECKPOINTS, STATE_FILE, check_out_dir, save_model, versions
from .validation import ValidationSet


@dataclass
class TrainConfig:
    """Hyper-parameters; with the defaults, ~430 questions train in about 13 minutes on 2 CPU cores."""

    base: str = DEFAULT_MODEL
    epochs: int = 4
    batch_size: int = 32  # in-batch negatives per question = batch_size - 1 (+ hard negatives of the batch)
    mini_batch_size: int = 32  # below batch_size: GradCache (CachedMultipleNegativesRankingLoss), same memory
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0  # inverse temperature of the softmax over cosine similarities
    hard_negatives: int = 1
    separate_encoders: bool = False
    max_seq_length: int = 192
    seed: int = 42
    evaluations_per_epoch: int = 1
    patience: int = 2  # evaluations without improvement before stopping
    lora_rank: int = 0  # above 0: train a LoRA delta of this rank instead of every weight (what ships)
    lora_alpha: float = 32.0
    device: str | None = None

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "mini_batch_size", "max_seq_length", "evaluations_per_epoch"):
            if getattr(self, name) < 1:
                raise RagError(f"{name.replace('_', '-')} must be at least 1")
        if self.batch_size < 2:
            raise RagError("batch-size must be at least 2: the other questions' passages are the negatives")
        if self.learning_rate <= 0 or self.hard_negatives < 0 or self.patience < 0 or self.lora_rank < 0:
            raise RagError("learning-rate must be positive; hard-negatives, patience and lora-rank not negative")
        if self.lora_rank and self.separate_encoders:
            raise RagError("--lora-rank trains one shared encoder; it cannot be combined with --separate-encoders")

    def lora(self) -> LoraSpec | None:
        return LoraSpec(rank=self.lora_rank, alpha=self.lora_alpha) if self.lora_rank else None

    def comparable(self) -> dict:
        """The fields that must match to resume a run."""
        data = asdict(self)
        data.pop("device")
        return data


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    epochs_run: float
    train_loss: list[tuple[int, float]]  # (step, loss) as logged
    validation: list[dict[str, float]]  # one row per evaluation, with "step"
    best: dict[str, float] | None
    seconds: float
    resumed_from: str | None = None
    record: dict = field(default_factory=dict)


def _quiet_libraries() -> None:
    quiet_offline()
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # weight loading and saving bars; the trainer keeps its own


def build_model(config: TrainConfig) -> Any:
    """A fresh, trainable copy of the base model; two towers in a Router for separate encoders."""
    _quiet_libraries()
    from sentence_transformers import SentenceTransformer

    path = str(resolve_model_path(config.base))
    device = config.device or None
    if not config.separate_encoders:
        model = SentenceTransformer(path, device=device, local_files_only=True)
    else:
        from sentence_transformers.base.modules import Router

        query = SentenceTransformer(path, device="cpu", local_files_only=True)
        document = SentenceTransformer(path, device="cpu", local_files_only=True)
        router = Router.for_query_document(list(query.children()), list(document.children()))
        model = SentenceTransformer(modules=[router], device=device)
    model.max_seq_length = config.max_seq_length
    if config.lora() is not None:
        add_lora(model[0].auto_model, config.lora())
    return model


def merged_model(config: TrainConfig, delta: dict) -> Any:
    """The base model with a trained LoRA delta merged in: what a shipped copy of the delta loads as."""
    plain = build_model(TrainConfig(**{**asdict(config), "lora_rank": 0}))
    merge_lora(plain[0].auto_model, delta, config.lora())
    return plain


def _dataset(examples: Sequence[TrainingExample], hard_negatives: int) -> Any:
    from datasets import Dataset

    usable = [e for e in examples if len(e.negatives) >= hard_negatives]
    columns: dict[str, list[str]] = {"question": [e.question for e in usable], "positive": [e.positive for e in usable]}
    for j in range(hard_negatives):
        columns[f"negative_{j + 1}"] = [e.negatives[j] for e in usable]
    return Dataset.from_dict(columns)


def _batches_without_duplicates(rows: Sequence[Sequence[str]], batch_size: int) -> int:
    """How many batches of `batch_size` rows with no text in common the no-duplicates sampler can form."""
    batches, remaining = 0, list(rows)
    while remaining:
        left, batch, seen = [], 0, set()
        for row in remaining:
            if seen.isdisjoint(row):
                seen.update(row)
                batch += 1
                if batch == batch_size:
                    batches, batch, seen = batches + 1, 0, set()
            else:
                left.append(row)
        if len(left) == len(remaining) or (batch and not left):
            break
        remaining = left
    return batches


def negatives_that_fit(examples: Sequence[TrainingExample], batch_size: int, hard_negatives: int) -> int:
    """The most negatives per example, up to `hard_negatives`, that still allow one duplicate-free batch.

    On a tiny collection every passage soon appears in every batch (as a positive of one question,
    a negative of another), and the sampler would form no batch at all: training would do nothing.
    """
    for n in range(hard_negatives, -1, -1):
        rows = [(e.question, e.positive, *e.negatives[:n]) for e in examples if len(e.negatives) >= n]
        if _batches_without_duplicates(rows, min(batch_size, len(rows))) >= 1:
            return n
    return 0


def train(
    examples: Sequence[TrainingExample],
    out_dir: str | Path,
    config: TrainConfig,
    *,
    validation: ValidationSet | None = None,
    overwrite: bool = False,
    resume: bool = False,
    provenance: dict | None = None,
    progress: bool = True,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Fine-tune `config.base` on `examples` and save the best model to `out_dir`.

    Examples with fewer than `config.hard_negatives` negatives are left out (the trainer needs
    one column per negative); on a collection too small for a duplicate-free batch with that many,
    fewer are used (`negatives_that_fit`, recorded as `data.negatives_per_example`). Checkpoints go to
    `out_dir/checkpoints/` and are removed when the run completes; an interrupted run continues with
    `resume=True`. `callbacks` are extra `transformers.TrainerCallback`s (logging, say).
    """
    config.validate()
    out_dir = Path(out_dir).expanduser()
    checkpoint = check_out_dir(out_dir, config, overwrite=overwrite, resume=resume)
    dataset, negatives = _usable_dataset(examples, config)
    _quiet_libraries()
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import PrinterCallback, set_seed

    from .evaluator import AccuracyEvaluator

    set_seed(config.seed)
    model = build_model(config)
    loss = _loss(model, config)
    evaluator = AccuracyEvaluator(validation) if validation is not None and validation.questions else None
    checkpoints = out_dir / CHECKPOINTS
    checkpoints.mkdir(parents=True, exist_ok=True)
    run_state = {"config": config.comparable(), "started": time.time(), "examples": len(dataset)}
    (checkpoints / STATE_FILE).write_text(json.dumps(run_state, indent=2), encoding="utf-8")
    args = _training_arguments(
        config,
        checkpoints,
        batch_size=min(config.batch_size, len(dataset)),
        evaluator=evaluator,
        examples=len(dataset),
        negatives=negatives,
        progress=progress,
    )
    all_callbacks, best_delta = _callbacks(config, model, evaluator, callbacks)
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator, callbacks=all_callbacks
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log dict to stdout; the record keeps them
    start = time.perf_counter()
    before = evaluator.evaluate(model.encode_query, model.encode_document) if evaluator and checkpoint is None else None
    output = trainer.train(resume_from_checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    if best_delta is not None:
        best_delta.restore()
    final = evaluator.evaluate(model.encode_query, model.encode_document) if evaluator else None
    losses, history = curves(trainer.state.log_history)  # restored from the checkpoint too when resumed
    best = max(history, key=lambda row: row["mrr@20"]) if history else None
    record = _record(
        config,
        trainer,
        loss,
        output,
        examples=len(dataset),
        negatives=negatives,
        validation=validation,
        provenance=provenance,
        curves=(losses, history),
        figures={"before": before, "history": history, "best": best, "final_model": final},
        seconds=seconds,
        checkpoint=checkpoint,
    )
    _save(model, config, out_dir, record)
    return TrainResult(
        out_dir, int(output.global_step), record["epochs_run"], losses, history, best, seconds, checkpoint, record
    )


def _usable_dataset(examples: Sequence[TrainingExample], config: TrainConfig) -> tuple[Any, int]:
    """The examples as the trainer's columns, with as many hard negatives as a duplicate-free batch allows."""
    negatives = negatives_that_fit(examples, min(config.batch_size, len(examples)), config.hard_negatives)
    dataset = _dataset(examples, negatives)
    if len(dataset) < 2:
        raise RagError(
            f"{len(dataset)} usable training examples (with at least {negatives} hard "
            "negatives); training needs at least 2"
        )
    return dataset, negatives


def _save(model: Any, config: TrainConfig, out_dir: Path, record: dict) -> None:
    """Save the model with its record; a LoRA delta is saved rounded as shipped, and the model is that delta
    merged, so what is evaluated later is what ships."""
    delta = None
    if config.lora() is not None:
        delta = {k: v.half().float() for k, v in lora_state(model[0].auto_model).items()}
        model = merged_model(config, delta)
        record["lora"] = config.lora().to_dict()
    save_model(model, out_dir, record, delta=delta, spec=config.lora())


def _loss(model: Any, config: TrainConfig) -> Any:
    """In-batch negatives plus hard negatives (DPR's loss); cached (GradCache) when mini-batches are smaller."""
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )

    if config.mini_batch_size < config.batch_size:
        return CachedMultipleNegativesRankingLoss(model, scale=config.scale, mini_batch_size=config.mini_batch_size)
    return MultipleNegativesRankingLoss(model, scale=config.scale)


def _callbacks(
    config: TrainConfig, model: Any, evaluator: Any, extra: Sequence[Any]
) -> tuple[list[Any], BestDelta | None]:
    """The caller's callbacks, plus early stopping and (for LoRA) the best evaluation's delta kept aside."""
    from transformers import EarlyStoppingCallback

    callbacks, best_delta = list(extra), None
    if config.lora() is not None and evaluator is not None:
        best_delta = BestDelta(model[0].auto_model, f"eval_{evaluator.primary_metric}")
        callbacks.append(best_delta.callback)
    if evaluator is not None and config.patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    return callbacks, best_delta


def _record(
    config: TrainConfig,
    trainer: Any,
    loss: Any,
    output: Any,
    *,
    examples: int,
    negatives: int,
    validation: ValidationSet | None,
    provenance: dict | None,
    curves: tuple[list, list],
    figures: dict,
    seconds: float,
    checkpoint: str | None,
) -> dict:
    """What `rag_training.json` says of a run: base model, data, hyper-parameters, curves and held-out figures."""
    return {
        "format": 1,
        "base_model": model_name(config.base),
        "encoders": "separate" if config.separate_encoders else "shared",
        "config": asdict(config),
        "data": {
            **(provenance or {}),
            "training_examples": examples,
            "negatives_per_example": negatives,
            "validation_questions": len(validation.questions) if validation else 0,
            "validation_pool": len(validation.corpus) if validation else 0,
        },
        "loss": type(loss).__name__,
        "steps": int(output.global_step),
        "epochs_run": round(float(trainer.state.epoch or 0), 2),
        "train_loss": curves[0],
        "validation": figures,
        "seconds": round(seconds, 1),
        "resumed_from": checkpoint,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
    }


def _training_arguments(
    config: TrainConfig,
    checkpoints: Path,
    *,
    batch_size: int,
    evaluator: Any,
    examples: int,
    negatives: int,
    progress: bool,
) -> Any:
    """sentence-transformers' arguments for `train`: no duplicate texts in a batch, an evaluation and a
    checkpoint `config.evaluations_per_epoch` times an epoch, the best evaluation's weights kept."""
    eval_every = max(1, max(1, examples // batch_size) // config.evaluations_per_epoch)
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    router_mapping = None
    if config.separate_encoders:
        router_mapping = {
            "question": "query",
            "positive": "document",
            **{f"negative_{j + 1}": "document" for j in range(negatives)},
        }
    return SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of all steps
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # a repeated passage in a batch would be a false negative
        router_mapping=router_mapping,
        eval_strategy="steps" if evaluator else "no",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=eval_every,
        save_total_limit=2,
        # a LoRA model's checkpoints reload without their adapter: BestDelta keeps the best one instead
        load_best_model_at_end=evaluator is not None and config.lora() is None,
        metric_for_best_model=f"eval_{evaluator.primary_metric}" if evaluator else None,
        greater_is_better=True,
        logging_steps=max(1, min(10, eval_every)),
        report_to="none",
        disable_tqdm=not progress,
        dataloader_drop_last=examples > batch_size,
        use_cpu=(config.device == "cpu"),
        dataloader_pin_memory=False,
    )
