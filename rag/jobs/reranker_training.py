"""`rag train-reranker`: mine positives and hard negatives from labelled questions over a collection, as `rag
train` does, and train a cross-encoder reranker on them (`retrievers.training.cross_encoder`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from rag.config import Settings
from rag.jobs.options import RerankerJob
from rag.retrieval import resolve_collection
from retrievers.errors import CollectionNotFound, RagError
from retrievers.stores import Collection
from retrievers.training import build_examples
from retrievers.training.cross_encoder import RerankerConfig, train_cross_encoder


def run_reranker_training(settings: Settings, job: RerankerJob, *, progress: bool = True) -> dict:
    """Everything `rag train-reranker` does, from parsed arguments; returns the training record."""
    qa = Path(job.qa)
    if not qa.is_file():
        raise RagError(f"{qa}: no such file")
    out = Path(job.out).expanduser()
    if out.exists() and any(out.iterdir()) and not job.overwrite:
        raise RagError(f"{out} exists: choose another --out, or --overwrite it")
    config = RerankerConfig(
        base=job.base,
        epochs=job.epochs,
        questions_per_step=job.questions_per_step,
        learning_rate=job.learning_rate,
        max_length=job.max_length,
        seed=job.seed,
    )
    config.validate()  # before the mining, not after it
    name = resolve_collection(settings, settings.collection)
    coll = Collection(name, settings.store, chroma_url=settings.chroma_url)
    try:
        if coll.count() == 0:
            raise CollectionNotFound(f"collection {name!r} is empty: ingest documents before training on it")
        examples, report = build_examples(
            qa,
            coll,
            hard_negatives=job.hard_negatives,
            dense_negatives=job.dense_negatives,
            depth=job.depth,
            max_answer_passages=job.max_answer_passages or None,
            seed=job.seed,
        )
    finally:
        coll.close()
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None)
    say(report.summary())
    if not examples:
        raise RagError(f"no training examples: {report.summary()}")
    if out.exists() and job.overwrite:
        shutil.rmtree(out)
    record = {
        "qa": str(qa),
        "collection": name,
        "mining": report.to_dict(),
        "recipe": " ".join(["rag", "train-reranker", *sys.argv[2:]]) if len(sys.argv) > 1 else None,
    }
    train_cross_encoder(examples, out, config, record=record, log=say)
    return {"out": str(out), "examples": len(examples), **record}
