"""DPR's reader: the answer span of the retrieved passages, and how it is trained.

model.py       `Reader`: question + passages -> the best spans, with DPR's passage selection
labels.py      distant supervision: answer spans in passages, `ReaderExample`s
cloze.py       cloze questions made from raw passages, for the reader's optional pretraining
training.py    `train_reader`: span and selection losses, seeds averaged, LoRA or full
evaluation.py  exact match and F1 on held-out questions, and the choice of the passage rule
"""

from .cloze import cloze_examples
from .evaluation import choose_passage_rule, evaluate_reader
from .labels import ReaderExample, answer_spans, gold_span_example, label, label_all
from .model import HEADS_FILE, PASSAGE_CHOICES, READER_FILE, AnswerSpan, Reader, Reading, read_reader_record, rerank
from .training import ReaderTrainConfig, ReaderTrainResult, train_reader

__all__ = [
    "HEADS_FILE",
    "PASSAGE_CHOICES",
    "READER_FILE",
    "Reader",
    "ReaderExample",
    "ReaderTrainConfig",
    "ReaderTrainResult",
    "Reading",
    "AnswerSpan",
    "answer_spans",
    "choose_passage_rule",
    "cloze_examples",
    "evaluate_reader",
    "gold_span_example",
    "label",
    "label_all",
    "read_reader_record",
    "rerank",
    "train_reader",
]
