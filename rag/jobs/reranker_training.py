"""`rag train-reranker`: mine positives and hard negatives from labelled questions over a collection, as `rag
train` does, and train a cross-encoder reranker on them (`retrievers.training.cross_encoder`)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.retrieval import resolve_collection
from retrievers.errors import CollectionNotFound, RagError
from retrievers.stores import Collection
from retrievers.training import build_examples
from retrievers.training.cross_encoder import RerankerConfig, train_cross_encoder


def run_reranker_training(settings: Settings, args: Any, *, progress: bool = True) -> dict:
    """Everything `rag train-reranker` does, from parsed arguments; returns the training record."""
    qa = Path(args.qa)
    if not qa.is_file():
        raise RagError(f"{qa}: no such file")
    out = Path(args.out).expanduser()
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise RagError(f"{out} exists: choose another --out, or --overwrite it")
    config = RerankerConfig(base=args.base, epochs=args.epochs, batch_size=args.pairs_per_step,
                            learning_rate=args.learning_rate, max_length=args.max_length, seed=args.seed)
    config.validate()  # before the mining, not after it
    name = resolve_collection(settings, settings.collection)
    coll = Collection(name, settings.store, chroma_url=settings.chroma_url)
    try:
        if coll.count() == 0:
            raise CollectionNotFound(f"collection {name!r} is empty: ingest documents before training on it")
        examples, report = build_examples(qa, coll, hard_negatives=args.hard_negatives,
                                          dense_negatives=args.dense_negatives, depth=args.depth,
                                          max_answer_passages=args.max_answer_passages or None, seed=args.seed)
    finally:
        coll.close()
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None)
    say(report.summary())
    if not examples:
        raise RagError(f"no training examples: {report.summary()}")
    if out.exists() and args.overwrite:
        shutil.rmtree(out)
    record = {"qa": str(qa), "collection": name, "mining": report.to_dict(),
              "recipe": " ".join(["rag", "train-reranker", *sys.argv[2:]]) if len(sys.argv) > 1 else None}
    train_cross_encoder(examples, out, config, record=record, log=say)
    return {"out": str(out), "examples": len(examples), **record}
