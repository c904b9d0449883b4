"""Evaluation datasets behind one interface: questions, their gold answers or relevant documents, and a corpus.

NQ-open jsonl, SQuAD / XQuAD json, BEIR folders and LlamaIndex LabelledRagDataset json all load into an
`EvalDataset`, so retrieval and answer metrics need not know where the questions came from. Malformed input is a
`DatasetError` naming the file and the line or JSON path; what is left out on purpose is counted in `skipped`.

    load_dataset("beir:data/scifact", split="dev")    # or just a path: the format is guessed from the content

    base.py        the types (`EvalDataset`, `EvalQuestion`, `Document`), `DatasetError`, reading helpers
    nq_open.py, squad.py, beir.py, llamaindex.py   one reader per format
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .base import FORMATS, DatasetError, Document, EvalDataset, EvalQuestion, lines, read_json
from .beir import load_beir
from .llamaindex import load_llamaindex
from .nq_open import load_nq_open
from .squad import load_squad

__all__ = ["FORMATS", "DatasetError", "Document", "EvalDataset", "EvalQuestion", "detect_format", "load_dataset"]

_FORMAT_LIKE = re.compile(r"[A-Za-z][\w.-]+")


def load_dataset(spec: str, *, split: str | None = None) -> EvalDataset:
    """Load "FORMAT:PATH", or "PATH" with the format guessed from the content; `split` picks a BEIR qrels file."""
    fmt, path = _parse_spec(spec)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    data = None
    if fmt is None:
        fmt, data = _sniff(path)
    if split is not None and fmt != "beir":
        raise DatasetError(f"{path}: split={split!r} applies to BEIR folders only, not to {fmt}")
    if fmt == "nq-open":
        return load_nq_open(path)
    if fmt == "squad":
        return load_squad(path, read_json(path) if data is None else data)
    if fmt == "beir":
        return load_beir(path, split)
    return load_llamaindex(path, read_json(path) if data is None else data)


def detect_format(path: str | Path) -> str:
    """Guess the format of a file or folder from its content (one of FORMATS)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    return _sniff(path)[0]


def _parse_spec(spec: str) -> tuple[str | None, Path]:
    """Split "FORMAT:PATH"; only a known format counts as a prefix, so paths containing ':' still work."""
    if not spec.strip():
        raise DatasetError("no dataset given: write FORMAT:PATH or PATH")
    head, sep, tail = spec.partition(":")
    if sep and head.lower() in FORMATS:
        if not tail.strip():
            raise DatasetError(f"{spec!r}: no path after the format")
        return head.lower(), Path(tail).expanduser()
    path = Path(spec).expanduser()
    if sep and not path.exists() and _FORMAT_LIKE.fullmatch(head):
        raise DatasetError(
            f"unknown dataset format {head!r} in {spec!r}; known formats: {', '.join(FORMATS)} "
            "(write FORMAT:PATH, or just PATH to guess the format)"
        )
    return None, path


def _sniff(path: Path) -> tuple[str, Any]:
    """The format of an existing path and, for a JSON file, its parsed content (so loading does not parse twice)."""
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return "beir", None
        raise _undetected(path, "a folder without corpus.jsonl")
    suffix = path.suffix.lower()
    if suffix != ".json":
        first = next(lines(path), None)
        try:
            record = json.loads(first[1]) if first else None
        except ValueError:
            record = None
        if isinstance(record, dict) and "question" in record and "answer" in record:
            return "nq-open", None
        if path.name in ("corpus.jsonl", "queries.jsonl"):
            raise _undetected(path, f"part of a BEIR folder? Give the folder {path.parent}")
        if suffix == ".jsonl":
            raise _undetected(path, 'no "question" and "answer" on the first line')
    try:
        data = read_json(path)
    except DatasetError:
        if suffix == ".json":
            raise
        raise _undetected(path, "neither JSON lines with questions nor a JSON document") from None
    if isinstance(data, dict):
        articles, examples = data.get("data"), data.get("examples")
        if isinstance(articles, list) and articles and isinstance(articles[0], dict) and "paragraphs" in articles[0]:
            return "squad", data
        if isinstance(examples, list) and examples and isinstance(examples[0], dict) and "query" in examples[0]:
            return "llamaindex", data
    raise _undetected(path, 'no "data" list of articles with "paragraphs", nor "examples" with "query"')


def _undetected(path: Path, why: str) -> DatasetError:
    return DatasetError(
        f"{path}: cannot tell the dataset format ({why}); known formats: {', '.join(FORMATS)}; "
        f"name one as FORMAT:PATH, e.g. squad:{path}"
    )
