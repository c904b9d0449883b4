"""The long jobs behind `rag train`, `rag train-reader`, `rag train-reranker` and `rag generate-questions`:
each reads its data, trains or generates through `retrievers/` or the LLM, and writes a model or a file
with a record of how it was made. Imported by the command that runs them (they load training stacks).

    options.py              each job's typed options (`DPRJob`, `ReaderJob`, `RerankerJob`), the flags' defaults
    training.py             the DPR encoder: mined examples, `retrievers.training.train`
    reader_training.py      the reader: distant-supervision labels, optional cloze pretraining
    reranker_training.py    a cross-encoder reranker on mined pairs
    question_generation.py  an LLM writes questions for a collection's passages (a pair file)
"""

from typing import Any

from .options import DPRJob, ReaderJob, RerankerJob

# module of each job's entry point, imported on first use: they load the training stacks
_LAZY = {
    "run_training": "training",
    "TrainingInterrupted": "training",
    "run_reader_training": "reader_training",
    "run_reranker_training": "reranker_training",
    "generate_pairs": "question_generation",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DPRJob", "ReaderJob", "RerankerJob", *_LAZY]
