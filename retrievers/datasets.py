"""Evaluation datasets behind one interface: questions, their gold answers or relevant documents, and a corpus.

NQ-open jsonl, SQuAD / XQuAD json, BEIR folders and LlamaIndex LabelledRagDataset json all load into an
`EvalDataset`, so retrieval and answer metrics need not know where the questions came from. Malformed input is a
`DatasetError` naming the file and the line or JSON path; what is left out on purpose is counted in `skipped`.

    load_dataset("beir:data/scifact", split="dev")    # or just a path: the format is guessed from the content
"""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from .answers import QAFile, first_time, normalize, read_qa
from .errors import RagError

FORMATS = ("nq-open", "squad", "beir", "llamaindex")

_MISSING: Any = object()
_FORMAT_LIKE = re.compile(r"[A-Za-z][\w.-]+")
_KIND_NAMES = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


class DatasetError(RagError):
    """An evaluation dataset that cannot be read; the message names the file, and the line or field where known."""


@dataclass(frozen=True)
class Document:
    """A passage of a dataset's own corpus (a SQuAD paragraph, a BEIR document, a LlamaIndex reference context)."""

    id: str
    title: str
    text: str


@dataclass(frozen=True)
class EvalQuestion:
    """A question with what counts as right: answer strings, relevant documents (id -> grade), a reference answer."""

    id: str
    question: str
    answers: tuple[str, ...] = ()
    gold: Mapping[str, int] = field(default_factory=dict)
    reference_answer: str | None = None
    spans: tuple[tuple[str, int], ...] = ()  # SQuAD: each distinct (answer text, answer_start) in its document


@dataclass
class EvalDataset:
    """The usable questions of a dataset, its own documents, and what was left out by reason (reason -> count)."""

    name: str
    format: str
    path: str
    questions: list[EvalQuestion]
    documents: list[Document] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


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
        return _load_nq_open(path)
    if fmt == "squad":
        return _load_squad(path, _read_json(path) if data is None else data)
    if fmt == "beir":
        return _load_beir(path, split)
    return _load_llamaindex(path, _read_json(path) if data is None else data)


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
        raise DatasetError(f"unknown dataset format {head!r} in {spec!r}; known formats: {', '.join(FORMATS)} "
                           "(write FORMAT:PATH, or just PATH to guess the format)")
    return None, path


def _sniff(path: Path) -> tuple[str, Any]:
    """The format of an existing path and, for a JSON file, its parsed content (so loading does not parse twice)."""
    if path.is_dir():
        if (path / "corpus.jsonl").is_file():
            return "beir", None
        raise _undetected(path, "a folder without corpus.jsonl")
    suffix = path.suffix.lower()
    if suffix != ".json":
        first = next(_lines(path), None)
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
        data = _read_json(path)
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
    return DatasetError(f"{path}: cannot tell the dataset format ({why}); known formats: {', '.join(FORMATS)}; "
                        f"name one as FORMAT:PATH, e.g. squad:{path}")


# --- reading ---------------------------------------------------------------------------------------------------------

def _read_json(path: Path) -> Any:
    """A whole JSON file; bad UTF-8 or bad JSON is an error naming the line and column."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: not valid UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line of a UTF-8 file (BOM tolerated); bad UTF-8 names its line."""
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        for number, raw in enumerate(fh, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"{path}, line {number}, byte {exc.start + 1}: not valid UTF-8") from None
            if line.strip():
                yield number, line


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file; a bad line is an error naming it."""
    for number, line in _lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}, line {number}, column {exc.colno}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DatasetError(f"{path}, line {number}: expected a JSON object")
        yield number, record


def _expect(value: Any, kind: type | tuple[type, ...], path: Path, where: str) -> Any:
    """`value` if it is of `kind`; otherwise an error naming the file and the place (a line and field, a JSON path)."""
    if value is _MISSING:
        raise DatasetError(f"{path}, {where}: missing")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or isinstance(value, bool):
        wanted = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise DatasetError(f"{path}, {where}: expected {wanted}, got {type(value).__name__}")
    return value


def _admit(question: str, seen: set[str]) -> str | None:
    """Why a question is left out (empty, or a repeat compared normalised), or None to keep it."""
    if not normalize(question).strip():
        return "empty question"
    if not first_time(question, seen):
        return "duplicate question"
    return None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --- NQ-open ---------------------------------------------------------------------------------------------------------

def _load_nq_open(path: Path) -> EvalDataset:
    """NQ-open / EfficientQA jsonl, read by `read_qa`; answers as written in the file (reports show them so)."""
    qa = _read_qa(path)
    questions = [EvalQuestion(f"q{i}", q.question, tuple(q.written)) for i, q in enumerate(qa.questions, start=1)]
    skipped = {"duplicate question": qa.duplicates, "empty question or no answer": qa.empty_answers}
    return EvalDataset(path.stem, "nq-open", str(path), questions,
                       skipped={reason: n for reason, n in skipped.items() if n})


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


# --- SQuAD -----------------------------------------------------------------------------------------------------------

def _load_squad(path: Path, data: Any) -> EvalDataset:
    """SQuAD v1.1 / v2.0 / XQuAD: each paragraph a document, each answerable question golden on its paragraph."""
    root = _expect(data, dict, path, "top level")
    articles = _expect(root.get("data", _MISSING), list, path, "data")
    documents: list[Document] = []
    questions: list[EvalQuestion] = []
    skipped: Counter[str] = Counter()
    titles: set[str] = set()
    ids: set[str] = set()
    seen: set[str] = set()
    for a, article in enumerate(articles):
        at = f"data[{a}]"
        article = _expect(article, dict, path, at)
        title = _expect(article.get("title", _MISSING), str, path, f"{at}.title")
        base = _unique_name(title, titles)
        for p, paragraph in enumerate(_expect(article.get("paragraphs", _MISSING), list, path, f"{at}.paragraphs")):
            at_p = f"{at}.paragraphs[{p}]"
            paragraph = _expect(paragraph, dict, path, at_p)
            context = _expect(paragraph.get("context", _MISSING), str, path, f"{at_p}.context")
            doc = Document(f"{base}#{p}", title, context)
            documents.append(doc)
            for q, qa in enumerate(_expect(paragraph.get("qas", _MISSING), list, path, f"{at_p}.qas")):
                at_q = f"{at_p}.qas[{q}]"
                qa = _expect(qa, dict, path, at_q)
                qid = str(_expect(qa.get("id", _MISSING), (str, int), path, f"{at_q}.id"))
                text = _expect(qa.get("question", _MISSING), str, path, f"{at_q}.question")
                spans = _squad_spans(qa, path, at_q)
                answers = _unique(text for text, _ in spans)
                if qid in ids:
                    skipped["duplicate question"] += 1
                    continue
                ids.add(qid)
                if qa.get("is_impossible") or not answers:
                    skipped["unanswerable"] += 1
                    continue
                if reason := _admit(text, seen):
                    skipped[reason] += 1
                    continue
                questions.append(EvalQuestion(qid, text.strip(), answers, {doc.id: 1}, spans=spans))
    return EvalDataset(path.stem, "squad", str(path), questions, documents, dict(skipped))


def _squad_spans(qa: dict[str, Any], path: Path, at: str) -> tuple[tuple[str, int], ...]:
    """The distinct non-empty answers of a SQuAD question as (text, answer_start), in order, the text stripped
    and its start moved with it (-1 where the file gives none); none for a v2 impossible one."""
    spans = []
    for i, answer in enumerate(_expect(qa.get("answers", []), list, path, f"{at}.answers")):
        answer = _expect(answer, dict, path, f"{at}.answers[{i}]")
        raw = _expect(answer.get("text", _MISSING), str, path, f"{at}.answers[{i}].text")
        start = answer.get("answer_start", -1)
        start = start if isinstance(start, int) and not isinstance(start, bool) and start >= 0 else -1
        text = raw.strip()
        if text:
            spans.append((text, start + len(raw) - len(raw.lstrip()) if start >= 0 else -1))
    return tuple(dict.fromkeys(spans))


def _unique_name(name: str, used: set[str]) -> str:
    """`name`, or `name~2`, `name~3`... when already used (two SQuAD articles may share a title)."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}~{n}"
    used.add(candidate)
    return candidate


# --- BEIR ------------------------------------------------------------------------------------------------------------

def _load_beir(folder: Path, split: str | None) -> EvalDataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/SPLIT.tsv; questions are the queries with relevant docs."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: a BEIR dataset is a folder with corpus.jsonl, queries.jsonl and qrels/")
    split, qrels = _beir_split(folder, split)
    skipped: Counter[str] = Counter()
    documents = _beir_corpus(folder / "corpus.jsonl", skipped)
    known_docs = {d.id for d in documents}
    queries: dict[str, str] = {}
    queries_path = _beir_file(folder, "queries.jsonl")
    for number, record in _jsonl(queries_path):
        qid = str(_expect(record.get("_id", _MISSING), (str, int), queries_path, f'line {number}, field "_id"'))
        text = _expect(record.get("text", _MISSING), str, queries_path, f'line {number}, field "text"')
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
        elif reason := _admit(text, seen):
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
    for number, record in _jsonl(_beir_file(path.parent, path.name)):
        doc_id = str(_expect(record.get("_id", _MISSING), (str, int), path, f'line {number}, field "_id"'))
        title = record.get("title")
        title = "" if title is None else _expect(title, str, path, f'line {number}, field "title"')
        text = _expect(record.get("text", _MISSING), str, path, f'line {number}, field "text"')
        if doc_id in ids:
            skipped["duplicate document"] += 1
            continue
        ids.add(doc_id)
        documents.append(Document(doc_id, title, text))
    return documents


def _beir_qrels(path: Path) -> Iterator[tuple[str, str, int]]:
    """(query id, corpus id, score) rows of a qrels tsv; a first line whose score is not a number is the header."""
    first = True
    for number, line in _lines(path):
        columns = line.rstrip("\r\n").split("\t")
        if len(columns) != 3:
            columns = line.split()
        if len(columns) != 3:
            raise DatasetError(f"{path}, line {number}: expected 3 tab-separated columns "
                               f"(query-id, corpus-id, score), got {len(columns)}")
        try:
            score = int(columns[2])
        except ValueError:
            if first:
                first = False
                continue
            raise DatasetError(f"{path}, line {number}: score {columns[2].strip()!r} is not an integer") from None
        first = False
        yield columns[0].strip(), columns[1].strip(), score


# --- LlamaIndex ------------------------------------------------------------------------------------------------------

def _load_llamaindex(path: Path, data: Any) -> EvalDataset:
    """A LabelledRagDataset: the distinct reference contexts are the documents, each example a question on them."""
    root = _expect(data, dict, path, "top level")
    examples = _expect(root.get("examples", _MISSING), list, path, "examples")
    documents: dict[str, Document] = {}
    questions: list[EvalQuestion] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for i, example in enumerate(examples):
        at = f"examples[{i}]"
        example = _expect(example, dict, path, at)
        query = _expect(example.get("query", _MISSING), str, path, f"{at}.query")
        gold: dict[str, int] = {}
        contexts = example.get("reference_contexts") or []
        for j, context in enumerate(_expect(contexts, list, path, f"{at}.reference_contexts")):
            context = _expect(context, str, path, f"{at}.reference_contexts[{j}]")
            if context.strip():
                doc_id = "ctx-" + hashlib.sha1(context.encode("utf-8")).hexdigest()[:12]
                documents.setdefault(doc_id, Document(doc_id, "", context))
                gold[doc_id] = 1
        answer = example.get("reference_answer")
        if answer is not None:
            _expect(answer, str, path, f"{at}.reference_answer")
        if reason := _admit(query, seen):
            skipped[reason] += 1
            continue
        questions.append(EvalQuestion(f"e{i + 1}", query.strip(), (), gold, answer))
    return EvalDataset(path.stem, "llamaindex", str(path), questions, list(documents.values()), dict(skipped))
