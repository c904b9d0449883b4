"""NQ-open and EfficientQA jsonl: `{"question", "answer": [...]}` per line, read by `read_qa`."""

from __future__ import annotations

from pathlib import Path

from ..answer_text import QAFile, read_qa
from ..errors import RagError
from .base import (
    DatasetError,
    EvalDataset,
    EvalQuestion,
)


def load_nq_open(path: Path) -> EvalDataset:
    """NQ-open / EfficientQA jsonl, read by `read_qa`; answers as written in the file (reports show them so)."""
    qa = _read_qa(path)
    questions = [EvalQuestion(f"q{i}", q.question, tuple(q.written)) for i, q in enumerate(qa.questions, start=1)]
    skipped = {"duplicate question": qa.duplicates, "empty question or no answer": qa.empty_answers}
    return EvalDataset(
        path.stem, "nq-open", str(path), questions, skipped={reason: n for reason, n in skipped.items() if n}
    )


def _read_qa(path: Path) -> QAFile:
    """`read_qa(strict=True)` with its errors as DatasetError naming the file."""
    try:
        return read_qa(path, strict=True)
    except (RagError, ValueError) as exc:
        message = str(exc)
        if str(path) not in message or "line" not in message:
            message = f"{path}: {message}"
        raise DatasetError(message) from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
