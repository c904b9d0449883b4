"""Fine-tuning DPR's encoders: training examples mined from a collection, and the trainer.

    data.py       questions and pairs to `TrainingExample`s (DPR's positives and hard negatives)
    validation.py held-out questions: the split, and the passage pool they are ranked against while training
    trainer.py    `train`: the sentence-transformers trainer with in-batch and hard negatives, LoRA or full
    model_dir.py  the trained model's directory: no clobbering, the checkpoint to resume, saving with its record
    evaluator.py  top-k accuracy on held-out questions, the trainer's evaluator
    callbacks.py  the best evaluation's LoRA delta kept aside; the loss and held-out curves

The trainer's names are imported on first use: the trainer loads sentence-transformers' training stack.
"""

from typing import Any

from .data import DataReport, TrainingExample, build_examples, detect_training_format, mine_examples, read_pairs
from .model_dir import TRAINING_FILE, check_out_dir, read_training_record
from .validation import ValidationSet, split_validation, validation_set

_TRAINER = ("TrainConfig", "TrainResult", "train")


def __getattr__(name: str) -> Any:
    if name in _TRAINER:
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DataReport",
    "TrainingExample",
    "ValidationSet",
    "build_examples",
    "detect_training_format",
    "mine_examples",
    "read_pairs",
    "split_validation",
    "validation_set",
    "TRAINING_FILE",
    "check_out_dir",
    "read_training_record",
    *_TRAINER,
]
