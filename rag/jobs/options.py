"""The jobs' typed options: what each command asks its job to do, with the defaults its flags show
(`rag/cli/options.py` makes the flags from these fields). Light to import: the command line builds its
parser from them."""

from __future__ import annotations

from dataclasses import dataclass

from retrievers.reader.training import ReaderTrainConfig
from retrievers.training.cross_encoder import RerankerConfig
from retrievers.training.trainer import TrainConfig


@dataclass
class DPRJob:
    """What `rag train` is asked to do (its flags, typed): the data, the output, the hyper-parameters and the
    mining rules (DPR's positives, BM25 and dense hard negatives)."""

    qa: str
    base: str | None = None
    out: str | None = None
    epochs: int = TrainConfig.epochs
    train_batch_size: int = TrainConfig.batch_size
    mini_batch_size: int = TrainConfig.mini_batch_size
    learning_rate: float = TrainConfig.learning_rate
    max_seq_length: int = TrainConfig.max_seq_length
    hard_negatives: int = 1  # BM25's, as DPR
    dense_negatives: int = 1  # the collection's dense retriever's: +2 points of top-20 on nq-vital
    dense_positives: bool = False  # DPR's positives are BM25's only
    depth: int = 100
    max_answer_passages: int = 20
    separate_encoders: bool = TrainConfig.separate_encoders
    lora_rank: int = TrainConfig.lora_rank
    lora_alpha: float = TrainConfig.lora_alpha
    validation: str | None = None
    validation_fraction: float = 0.1
    patience: int = TrainConfig.patience
    seed: int = TrainConfig.seed
    overwrite: bool = False
    resume: bool = False


@dataclass
class ReaderJob:
    """What `rag train-reader` is asked to do: the files, the output, the labelling (distant supervision over
    the collection's hybrid retriever), an optional cloze pretraining, and the reader's hyper-parameters."""

    qa: list[str]
    base: str | None = None
    out: str | None = None
    epochs: int = ReaderTrainConfig.epochs
    passages: int = ReaderTrainConfig.passages
    questions_per_step: int = ReaderTrainConfig.questions_per_step
    learning_rate: float = ReaderTrainConfig.learning_rate
    max_length: int = ReaderTrainConfig.max_length
    seeds: int = ReaderTrainConfig.seeds
    lora_rank: int = ReaderTrainConfig.lora_rank
    cloze: int = 0
    cloze_from: str | None = None
    depth: int = 20
    max_positives: int = 2
    read: int = 10
    limit: int | None = None
    validation: str | None = None
    validation_fraction: float = 0.1
    seed: int = ReaderTrainConfig.seed
    overwrite: bool = False


@dataclass
class RerankerJob:
    """What `rag train-reranker` is asked to do: the questions, the output, the mining rules and the
    cross-encoder's hyper-parameters."""

    qa: str
    out: str
    base: str = RerankerConfig.base
    epochs: int = RerankerConfig.epochs
    questions_per_step: int = RerankerConfig.questions_per_step
    learning_rate: float = RerankerConfig.learning_rate
    max_length: int = RerankerConfig.max_length
    hard_negatives: int = 3
    dense_negatives: int = 3
    depth: int = 100
    max_answer_passages: int = 20
    seed: int = RerankerConfig.seed
    overwrite: bool = False
