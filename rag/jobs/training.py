"""`rag train`: build training data from a file and a collection, fine-tune, and say what to do next."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.jobs.options import DPRJob
from rag.retrieval import reindexed_name, resolve_collection
from retrievers.errors import CollectionNotFound, RagError
from retrievers.stores import Collection
from retrievers.training import (
    DataReport,
    TrainingExample,
    build_examples,
    detect_training_format,
    split_validation,
    validation_set,
)

MAX_VALIDATION_QUESTIONS = 300


class TrainingInterrupted(RagError):
    """Ctrl-C during training: the checkpoints stay, and `--resume` continues from the last one."""


@dataclass
class TrainingRun:
    record: dict
    summary: str
    out_dir: Path


def default_out_dir(settings: Settings, collection: str, separate: bool) -> Path:
    return settings.store / "models" / f"dpr-{collection}{'-separate' if separate else ''}"


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(settings: Settings, name: str | None, needed: bool) -> Collection | None:
    try:
        return Collection(resolve_collection(settings, name), settings.store, chroma_url=settings.chroma_url)
    except CollectionNotFound:
        if needed:
            raise
        return None


def run_training(settings: Settings, job: DPRJob, *, progress: bool = True) -> TrainingRun:
    """Everything `rag train` does (see `rag train --help`)."""
    from retrievers.training import train

    qa_path = Path(job.qa)
    if not qa_path.is_file():
        raise RagError(f"{qa_path}: no such file")
    mining = any(detect_training_format(p) == "qa" for p in (qa_path, job.validation) if p)
    coll = _open(settings, settings.collection, needed=mining)
    try:
        if coll is not None and coll.count() == 0:
            raise CollectionNotFound(f"collection {coll.name!r} is empty: ingest documents before training on it")
        base = job.base or (coll.model if coll is not None and coll.model else settings.encoder)
        config = _train_config(settings, job, base)
        if not 0 <= job.validation_fraction < 1:
            raise RagError("--validation-fraction must be at least 0 and below 1")
        name = coll.name if coll is not None else qa_path.stem
        out_dir = Path(job.out).expanduser() if job.out else default_out_dir(settings, name, job.separate_encoders)
        from retrievers.training import check_out_dir

        if not job.overwrite:  # fail before the mining, not after it
            check_out_dir(out_dir, config, overwrite=False, resume=job.resume)

        mining_options = {
            "hard_negatives": job.hard_negatives,
            "dense_negatives": job.dense_negatives,
            "dense_positives": job.dense_positives,
            "depth": job.depth,
            "max_answer_passages": job.max_answer_passages or None,
            "seed": job.seed,
        }
        train_examples, held_out, report = _examples(qa_path, coll, job, mining_options, progress)
        validation = validation_set(held_out, coll, seed=job.seed) if held_out else None
        _say(
            f"training on {len(train_examples)} examples, validating on {len(held_out)} held-out questions"
            + (f" against {len(validation.corpus)} passages" if validation else ""),
            progress,
        )
        provenance = {
            "file": str(qa_path.resolve()),
            "sha256": _sha256(qa_path),
            "format": report.format,
            "collection": coll.name if coll is not None else None,
            "collection_passages": coll.count() if coll is not None else None,
            "mining": mining_options,
            "report": report.to_dict(),
            "validation_file": str(Path(job.validation).resolve()) if job.validation else None,
        }
        try:
            result = train(
                train_examples,
                out_dir,
                config,
                validation=validation,
                overwrite=job.overwrite,
                resume=job.resume,
                provenance=provenance,
                progress=progress,
            )
        except KeyboardInterrupt:
            raise TrainingInterrupted(
                f"training interrupted; checkpoints are in {out_dir}/checkpoints: run the same "
                "command with --resume to continue from the last one"
            ) from None
    finally:
        if coll is not None:
            coll.close()
    return TrainingRun(result.record, _summary(result, coll.name if coll is not None else None), out_dir)


def _train_config(settings: Settings, job: DPRJob, base: str) -> Any:
    """The trainer's configuration from the job (BM25's and the dense retriever's negatives together), checked."""
    from retrievers.training import TrainConfig

    config = TrainConfig(
        base=base,
        epochs=job.epochs,
        batch_size=job.train_batch_size,
        mini_batch_size=job.mini_batch_size,
        learning_rate=job.learning_rate,
        hard_negatives=job.hard_negatives + job.dense_negatives,
        separate_encoders=job.separate_encoders,
        seed=job.seed,
        patience=job.patience,
        max_seq_length=job.max_seq_length,
        lora_rank=job.lora_rank,
        lora_alpha=job.lora_alpha,
        device=settings.device,
    )
    config.validate()
    return config


def _examples(
    qa_path: Path, coll: Collection | None, job: DPRJob, mining: dict, progress: bool
) -> tuple[list[TrainingExample], list[TrainingExample], DataReport]:
    """The mined training examples and the held-out ones: the validation file's, or a split of the training
    file's (questions in both are left out of training)."""
    examples, report = build_examples(qa_path, coll, **mining)
    _say(report.summary(), progress)
    if job.validation:
        held_out, val_report = build_examples(job.validation, coll, **mining)
        held_out = held_out[:MAX_VALIDATION_QUESTIONS]
        train_examples = _without(examples, held_out)
        _say("validation: " + val_report.summary(), progress)
    else:
        train_examples, held_out = split_validation(
            examples, job.validation_fraction, MAX_VALIDATION_QUESTIONS, job.seed
        )
    _check_enough(report, train_examples, job.depth)
    return train_examples, held_out, report


def _say(line: str, progress: bool) -> None:
    if progress:
        print(line, file=sys.stderr, flush=True)


def _without(examples: list[TrainingExample], held_out: list[TrainingExample]) -> list[TrainingExample]:
    """Training examples minus any question that is also held out (no leak into validation)."""
    from retrievers.answer_text import normalize

    held = {normalize(e.question) for e in held_out}
    return [e for e in examples if normalize(e.question) not in held]


def _check_enough(report: DataReport, examples: list[TrainingExample], depth: int) -> None:
    if len(examples) >= 2:
        return
    if report.examples >= 2:
        raise RagError(
            f"only {len(examples)} usable training examples left after holding out the validation "
            f"questions (of {report.examples}); use a validation file with other questions"
        )
    if report.format == "qa" and report.no_positive:
        raise RagError(
            f"only {len(examples)} usable training examples: {report.no_positive} of "
            f"{report.lines_read} questions have no answer in the top {depth} BM25 passages of the "
            "collection. Check that the questions are about this collection, or raise --depth"
        )
    raise RagError(f"only {len(examples)} usable training examples in {report.source}: {report.summary()}")


def _summary(result: Any, collection: str | None) -> str:
    record = result.record
    lines = [
        f"saved {record['encoders']} encoders to {result.out_dir} "
        f"({record['steps']} steps, {record['epochs_run']} epochs, {record['seconds']:.0f} s)"
    ]
    wanted, used = record["config"]["hard_negatives"], record["data"].get("negatives_per_example", 0)
    if used < wanted:
        lines.append(
            f"used {used} of {wanted} hard negatives per question: the collection is too small for a "
            "batch with no passage twice"
        )
    if result.train_loss:
        lines.append(f"training loss {result.train_loss[0][1]:.4f} -> {result.train_loss[-1][1]:.4f}")
    val = record["validation"]
    if val.get("before") and val.get("final_model"):
        b, f = val["before"], val["final_model"]
        lines.append(
            "held-out accuracy " + ", ".join(f"top-{k}: {b[f'top{k}']:.1f} -> {f[f'top{k}']:.1f}" for k in (1, 5, 20))
        )
    if collection:
        lines.append(
            f"next: rag reindex {collection} --encoder {result.out_dir}   "
            f"(then: rag search --collection {reindexed_name(collection, str(result.out_dir))} QUESTION)"
        )
    return "\n".join(lines)
