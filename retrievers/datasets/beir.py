"""BEIR folders: corpus.jsonl, queries.jsonl and graded qrels per split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterator

from .base import (
    MISSING,
    DatasetError,
    Document,
    EvalDataset,
    EvalQuestion,
    admit,
    expect,
    jsonl,
    lines,
)


def load_beir(folder: Path, split: str | None) -> EvalDataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv; questions are the queries with relevant docs."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: a BEIR dataset is a folder with corpus.jsonl, queries.jsonl and qrels/")
    split, qrels = _beir_split(folder, split)
    skipped: Counter[str] = Counter()
    documents = _beir_corpus(folder / "corpus.jsonl", skipped)
    known_docs = {d.id for d in documents}
    queries: dict[str, str] = {}
    queries_path = _beir_file(folder, "queries.jsonl")
    for number, record in jsonl(queries_path):
        qid = str(expect(record.get("_id", MISSING), (str, int), queries_path, f'line {number}, field "_id"'))
        text = expect(record.get("text", MISSING), str, queries_path, f'line {number}, field "text"')
        if qid in queries:
            skipped["duplicate query id"] += 1
        else:
            queries[qid] = text
    gold: dict[str, dict[str, int]] = {}
    for qid, doc_id, score in _beir_qrels(qrels):
        if score <= 0:
            continue
        if qid not in queries:
            skipped["unknown query in qrels"] += 1
            continue
        grades = gold.setdefault(qid, {})
        if doc_id not in known_docs:
            skipped["unknown document in qrels"] += 1
            continue
        grades[doc_id] = max(score, grades.get(doc_id, 0))
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for qid, text in queries.items():
        if qid not in gold:
            continue  # a query of another split
        if not gold[qid]:
            skipped["no relevant document"] += 1
        elif reason := admit(text, seen):
            skipped[reason] += 1
        else:
            questions.append(EvalQuestion(qid, text.strip(), (), gold[qid]))
    name = folder.resolve().name + ("" if split == "test" else f"-{split}")
    return EvalDataset(name, "beir", str(folder), questions, documents, dict(skipped))


def _beir_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise DatasetError(f"{folder}: not a BEIR folder, {name} is missing")
    return path


def _beir_split(folder: Path, split: str | None) -> tuple[str, Path]:
    """The split and its qrels file: the named one, else test, else dev, else the only one there is."""
    qrels = folder / "qrels"
    available = sorted(p.stem for p in qrels.glob("*.tsv")) if qrels.is_dir() else []
    if not available:
        raise DatasetError(f"{folder}: no qrels/*.tsv (a BEIR folder has qrels/test.tsv, say)")
    if split is None:
        for default in ("test", "dev"):
            if default in available:
                return default, qrels / f"{default}.tsv"
        if len(available) > 1:
            raise DatasetError(f"{folder}: several splits ({', '.join(available)}); choose one with split=")
        split = available[0]
    elif split not in available:
        raise DatasetError(f"{folder}: no split {split!r} (no qrels/{split}.tsv); available: {', '.join(available)}")
    return split, qrels / f"{split}.tsv"


def _beir_corpus(path: Path, skipped: Counter[str]) -> list[Document]:
    documents: list[Document] = []
    ids: set[str] = set()
    for number, record in jsonl(_beir_file(path.parent, path.name)):
        doc_id = str(expect(record.get("_id", MISSING), (str, int), path, f'line {number}, field "_id"'))
        title = record.get("title")
        title = "" if title is None else expect(title, str, path, f'line {number}, field "title"')
        text = expect(record.get("text", MISSING), str, path, f'line {number}, field "text"')
        if doc_id in ids:
            skipped["duplicate document"] += 1
            continue
        ids.add(doc_id)
        documents.append(Document(doc_id, title, text))
    return documents


def _beir_qrels(path: Path) -> Iterator[tuple[str, str, int]]:
    """(query id, corpus id, score) rows of a qrels tsv; a first line whose score is not a number is the header."""
    first = True
    for number, line in lines(path):
        columns = line.rstrip("\r\n").split("\t")
        if len(columns) != 3:
            columns = line.split()
        if len(columns) != 3:
            raise DatasetError(
                f"{path}, line {number}: expected 3 tab-separated columns "
                f"(query-id, corpus-id, score), got {len(columns)}"
            )
        try:
            score = int(columns[2])
        except ValueError:
            if first:
                first = False
                continue
            raise DatasetError(f"{path}, line {number}: score {columns[2].strip()!r} is not an integer") from None
        first = False
        yield columns[0].strip(), columns[1].strip(), score
