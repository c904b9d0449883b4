"""Training data for the dual encoder: (question, positive passage, hard negatives) triples.

Sources: question-answer files over a collection with no gold passages, mined with DPR's recipe
(the positive is the highest-ranked BM25 passage containing a normalised answer; hard negatives are
high-ranked BM25 passages that do not, optionally also dense-retrieved ones); explicit pair files
`{"question", "positive", "negatives"?}`; and LlamaIndex's question-context datasets
(`EmbeddingQAFinetuneDataset.save_json`: `{"queries", "corpus", "relevant_docs"}`), e.g. written by
`generate_question_context_pairs` with any LLM.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from ..answer_text import QAFile, Question, answer_passage_counts, first_time, has_answer, normalize, read_qa
from ..encoders import Encoder
from ..errors import RagError
from ..stores import Collection


@dataclass
class TrainingExample:
    question: str
    positive: str
    negatives: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)  # normalised; empty for explicit pairs
    positive_id: str | None = None
    negative_ids: list[str] = field(default_factory=list)
    random_negatives: int = 0  # how many of the negatives are random fill, not hard ones


@dataclass
class DataReport:
    """What a builder did with its input: every question is accounted for."""

    source: str
    format: str
    lines_read: int = 0
    examples: int = 0
    malformed: int = 0
    no_answer: int = 0
    duplicates: int = 0
    no_positive: int = 0
    common_answer: int = 0  # dropped: the answer is in more passages than max_answer_passages
    short_of_negatives: int = 0  # kept, with random negatives making up for missing hard ones
    first_problem: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.examples} training examples from {self.lines_read} records of {self.source} ({self.format})"]
        dropped = [
            (self.malformed, "malformed"),
            (self.no_answer, "without a usable answer"),
            (self.duplicates, "duplicates"),
            (self.no_positive, "with no passage containing an answer"),
            (self.common_answer, "with an answer found in too many passages"),
        ]
        parts += [f"{n} {why} dropped" for n, why in dropped if n]
        if self.short_of_negatives:
            parts.append(f"{self.short_of_negatives} with too few hard negatives, made up with random ones")
        if self.first_problem:
            parts.append(f"first problem: {self.first_problem}")
        return "; ".join(parts)


LLAMAINDEX_KEYS = ("queries", "corpus", "relevant_docs")


def detect_training_format(path: str | Path) -> str:
    """`qa` for `{"question", "answer"}` records, `pairs` for `{"question", "positive"}` ones, `llamaindex`
    for one `{"queries", "corpus", "relevant_docs"}` object."""
    if _llamaindex_dataset(path) is not None:
        return "llamaindex"
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "positive" in record:
                return "pairs"
            if isinstance(record, dict) and "answer" in record:
                return "qa"
    raise RagError(
        f'{path}: no record with "question" and "answer" (question-answer file), '
        '"question" and "positive" (pair file), nor a LlamaIndex dataset '
        '{"queries", "corpus", "relevant_docs"}'
    )


def _llamaindex_dataset(path: str | Path) -> dict | None:
    """The file as one LlamaIndex dataset object, or None (cheap for JSON-lines files: one line is read)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
        if not first.lstrip().startswith("{"):
            return None
        try:
            record = json.loads(first)
        except ValueError:
            record = None  # an object spread over lines, as `save_json` writes it
        if record is None:
            fh.seek(0)
            try:
                record = json.load(fh)
            except ValueError:
                return None
    if isinstance(record, dict) and all(k in record for k in LLAMAINDEX_KEYS):
        return record
    return None


def read_pairs(
    path: str | Path, hard_negatives: int | None = None, seed: int = 0
) -> tuple[list[TrainingExample], DataReport]:
    """Explicit pairs, one JSON object per line: `{"question", "positive", "negatives": [...]}`.

    With `hard_negatives`, each example keeps that many; missing ones are other questions' positives.
    """
    report = DataReport(str(path), "pairs")
    examples: list[TrainingExample] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            report.lines_read += 1
            try:
                record = json.loads(line)
                question, positive = record["question"], record["positive"]
                negatives = record.get("negatives") or []
                if isinstance(negatives, str):
                    negatives = [negatives]
                if not (isinstance(question, str) and isinstance(positive, str) and isinstance(negatives, list)):
                    raise TypeError("question and positive must be strings, negatives a list of strings")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                report.malformed += 1
                report.first_problem = report.first_problem or f"line {number}: {exc!r}"
                continue
            negatives = [n for n in negatives if isinstance(n, str) and n.strip() and n != positive]
            if not _usable(question, positive, seen, report):
                continue
            examples.append(
                TrainingExample(
                    question.strip(), positive, negatives[:hard_negatives] if hard_negatives is not None else negatives
                )
            )
    return _filled(examples, report, hard_negatives, seed)


def read_llamaindex(
    path: str | Path, hard_negatives: int | None = None, seed: int = 0
) -> tuple[list[TrainingExample], DataReport]:
    """A LlamaIndex `EmbeddingQAFinetuneDataset` JSON file: each query with its first relevant passage.

    It has no negatives; with `hard_negatives`, other queries' passages stand in for them.
    """
    record = _llamaindex_dataset(path)
    if record is None:
        raise RagError(f"{path}: not a LlamaIndex dataset (a JSON object with {', '.join(LLAMAINDEX_KEYS)})")
    report = DataReport(str(path), "llamaindex")
    queries, corpus, relevant = (record[k] if isinstance(record[k], dict) else {} for k in LLAMAINDEX_KEYS)
    examples: list[TrainingExample] = []
    seen: set[str] = set()
    for qid, question in queries.items():
        report.lines_read += 1
        docs = relevant.get(qid)
        doc_ids = docs if isinstance(docs, list) else [docs]
        positive = next((corpus[d] for d in doc_ids if isinstance(d, str) and isinstance(corpus.get(d), str)), None)
        if not isinstance(question, str) or positive is None:
            report.malformed += 1
            report.first_problem = report.first_problem or f"query {qid!r}: no question text or no passage in corpus"
            continue
        if not _usable(question, positive, seen, report):
            continue
        examples.append(TrainingExample(question.strip(), positive, positive_id=doc_ids[0]))
    return _filled(examples, report, hard_negatives, seed)


def _usable(question: str, positive: str, seen: set[str], report: DataReport) -> bool:
    """False, counting why, for an empty question or passage and for a repeated question."""
    if not question.strip() or not positive.strip():
        report.no_answer += 1
        return False
    if not first_time(question, seen):
        report.duplicates += 1
        return False
    return True


def _filled(
    examples: list[TrainingExample], report: DataReport, hard_negatives: int | None, seed: int
) -> tuple[list[TrainingExample], DataReport]:
    """Give each example `hard_negatives` negatives, making up missing ones with other examples' positives."""
    if hard_negatives:
        rng = random.Random(seed)
        positives = [e.positive for e in examples]
        for e in examples:
            missing = hard_negatives - len(e.negatives)
            if missing <= 0:
                continue
            report.short_of_negatives += 1
            others = [p for p in dict.fromkeys(positives) if p != e.positive and p not in e.negatives]
            e.negatives += rng.sample(others, min(missing, len(others)))
            e.random_negatives = missing
    report.examples = len(examples)
    return examples, report


class PassageCache:
    """Passage texts and their normalised forms by id, read from the collection once."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self._text: dict[str, str] = {}
        self._norm: dict[str, str] = {}

    def load(self, ids: Sequence[str]) -> None:
        missing = [i for i in ids if i not in self._text]
        for pid, passage in self.collection.get(missing).items():
            self._text[pid] = passage.indexed_text
            self._norm[pid] = normalize(passage.indexed_text)

    def text(self, pid: str) -> str:
        return self._text[pid]

    def answers(self, pid: str, answers: Sequence[str]) -> bool:
        return has_answer(answers, self._norm[pid])


def mine_examples(
    questions: Sequence[Question],
    collection: Collection,
    *,
    depth: int = 100,
    hard_negatives: int = 1,
    dense_negatives: int = 0,
    dense_positives: bool = False,
    encoder: Encoder | None = None,
    seed: int = 0,
) -> tuple[list[TrainingExample], list[Question]]:
    """DPR's recipe for data without gold passages; returns the examples and the questions with no positive.

    The positive is the top-ranked BM25 passage with an answer; with `dense_positives`, a question whose
    BM25 top `depth` holds none takes the top-ranked one of the dense retriever's instead (BM25 misses the
    questions that share few words with their passage, the ones a dense encoder most needs to learn).
    Hard negatives are the top-ranked BM25 passages without an answer; with `dense_negatives` (and
    the collection's `encoder`), that many top dense passages without an answer are added too.
    When the rankings hold too few, random passages without an answer make up the number (DPR's
    "random" negatives), so every example keeps the same shape.
    """
    bm25 = collection.bm25()
    cache = PassageCache(collection)
    rng = random.Random(seed)
    all_ids: list[str] = []
    examples: list[TrainingExample] = []
    unmatched: list[Question] = []
    query_vectors = None
    if dense_negatives or dense_positives:
        encoder = encoder or collection.encoder()
        query_vectors = encoder.encode_query([q.question for q in questions])
    for i, q in enumerate(questions):
        ranked = [pid for pid, _ in bm25.search(q.question, depth)]
        cache.load(ranked)
        positive = next((pid for pid in ranked if cache.answers(pid, q.answers)), None)
        dense_ranked: list[str] = []
        if query_vectors is not None and (dense_negatives or positive is None):  # searched only when it is used
            dense_ranked = [p.id for p, _ in collection.dense().query(query_vectors[i], depth)]
            cache.load(dense_ranked)
        if positive is None and dense_positives:
            positive = next((pid for pid in dense_ranked if cache.answers(pid, q.answers)), None)
        if positive is None:
            unmatched.append(q)
            continue
        negatives = [pid for pid in ranked if not cache.answers(pid, q.answers)][:hard_negatives]
        if dense_negatives:
            chosen = set(negatives) | {positive}
            negatives += [pid for pid in dense_ranked if pid not in chosen and not cache.answers(pid, q.answers)][
                :dense_negatives
            ]
        wanted = hard_negatives + dense_negatives
        filled: list[str] = []
        if len(negatives) < wanted:
            all_ids = all_ids or collection.ids()
            filled = _random_negatives(rng, all_ids, cache, q.answers, {positive, *negatives}, wanted - len(negatives))
        negatives += filled
        examples.append(
            TrainingExample(
                q.question,
                cache.text(positive),
                [cache.text(n) for n in negatives],
                q.answers,
                positive,
                negatives,
                len(filled),
            )
        )
    return examples, unmatched


def _random_negatives(
    rng: random.Random, ids: list[str], cache: PassageCache, answers: Sequence[str], exclude: set[str], n: int
) -> list[str]:
    picked: list[str] = []
    for _ in range(min(len(ids), 20 * n)):
        pid = ids[rng.randrange(len(ids))]
        if pid in exclude:
            continue
        cache.load([pid])
        if not cache.answers(pid, answers):
            picked.append(pid)
            exclude.add(pid)
            if len(picked) == n:
                break
    return picked


def build_examples(
    path: str | Path,
    collection: Collection | None,
    *,
    hard_negatives: int = 1,
    dense_negatives: int = 0,
    dense_positives: bool = False,
    depth: int = 100,
    max_answer_passages: int | None = None,
    seed: int = 0,
) -> tuple[list[TrainingExample], DataReport]:
    """Training examples from a question-answer file (mined over `collection`) or a pair file.

    `max_answer_passages` drops questions whose answer occurs in more passages than that: for an
    answer such as "1972" the best BM25 passage containing it is rarely about the question.
    """
    if not Path(path).is_file():
        raise RagError(f"{path}: no such file")
    fmt = detect_training_format(path)
    if fmt == "pairs":
        return read_pairs(path, hard_negatives + dense_negatives, seed=seed)
    if fmt == "llamaindex":
        return read_llamaindex(path, hard_negatives + dense_negatives, seed=seed)
    if collection is None:
        raise RagError(f"{path} holds questions with answers: give the --collection to mine passages from")
    qa: QAFile = read_qa(path)
    report = DataReport(
        str(path),
        "qa",
        lines_read=len(qa.questions) + len(qa.invalid) + qa.empty_answers + qa.duplicates,
        malformed=len(qa.invalid),
        no_answer=qa.empty_answers,
        duplicates=qa.duplicates,
        first_problem=qa.invalid[0] if qa.invalid else "",
    )
    examples, unmatched = mine_examples(
        qa.questions,
        collection,
        depth=depth,
        hard_negatives=hard_negatives,
        dense_negatives=dense_negatives,
        dense_positives=dense_positives,
        seed=seed,
    )
    report.no_positive = len(unmatched)
    if max_answer_passages:
        counts = answer_passage_counts(
            [Question(e.question, e.answers) for e in examples], (p.indexed_text for p in collection.passages())
        )
        report.common_answer = sum(1 for c in counts if c > max_answer_passages)
        examples = [e for e, c in zip(examples, counts) if c <= max_answer_passages]
    report.short_of_negatives = sum(1 for e in examples if e.random_negatives)
    report.examples = len(examples)
    return examples, report
