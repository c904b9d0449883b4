"""`rag train-reader`: label retrieved passages by distant supervision (or gold spans), train, report.

NQ-open style files (`{"question", "answer": [...]}` per line) are labelled over a collection: each
question's top `depth` passages from the hybrid retriever, positives where a normalised answer
occurs (every occurrence a gold span), the best-ranked others as negatives. SQuAD-format files
carry their spans; their negatives come from the collection when one is given, else from the
other paragraphs of the same article.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from rag.config import Settings
from rag.jobs.options import ReaderJob
from rag.retrieval import open_collection, open_retriever
from retrievers.answer_text import read_qa
from retrievers.datasets import DatasetError, load_dataset
from retrievers.errors import RagError
from retrievers.reader import ReaderExample, answer_spans, gold_span_example, label_all
from retrievers.reader.cloze import cloze_examples, describe

MAX_VALIDATION_QUESTIONS = 300
TRAINING_FLAGS = ("epochs", "passages", "questions_per_step", "learning_rate", "max_length", "seeds", "lora_rank")
Item = tuple[str, list[str], list[str]]  # (question, answers, contexts read)


@dataclass
class ReaderRun:
    record: dict
    summary: str
    out_dir: Path


def default_reader_dir(settings: Settings, collection: str) -> Path:
    return settings.store / "models" / f"reader-{collection}"


def is_squad(path: str | Path) -> bool:
    """True for a file meant as SQuAD / XQuAD JSON (`{"data": ...}` at the top), even a broken one: it is then
    read by the SQuAD reader, whose error names the JSON path at fault, not by the NQ-open one."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            head = fh.read(4096).lstrip()
    except OSError as exc:
        raise RagError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        return False
    return head.startswith("{") and '"data"' in head


def read_squad(path: str | Path) -> list[tuple[str, str, str, list[tuple[str, int]]]]:
    """(title, context, question, [(answer text, start)]) per answerable question of a SQuAD file, read by
    the one SQuAD reader (`retrievers.datasets`), so training and `rag eval` see the same questions."""
    try:
        dataset = load_dataset(f"squad:{path}")
    except DatasetError as exc:
        raise RagError(f"not a SQuAD-format file: {exc}") from None
    documents = {d.id: d for d in dataset.documents}
    rows = []
    for q in dataset.questions:
        document = documents[next(iter(q.gold))]
        rows.append((document.title, document.text, q.question, list(q.spans)))
    return rows


class _Retrieval:
    """The collection's hybrid retriever, opened at its first use and shared by the training and
    validation files, so the encoder is loaded once per run."""

    def __init__(self, settings: Settings, collection: str | None) -> None:
        self.settings, self.collection = settings, collection
        self._coll: Any = None
        self._retriever: Any = None

    def __call__(self, questions: Sequence[str], depth: int, progress: bool) -> list[list[str]]:
        """The texts (title and passage, as the encoders read them) of each question's top `depth` passages."""
        if self._retriever is None:
            self._coll = open_collection(self.settings, self.collection)
            self._retriever = open_retriever(self.settings, self._coll, "hybrid")
        if hasattr(self._retriever, "prime"):
            self._retriever.prime(list(questions))
        out = []
        for i, question in enumerate(questions, start=1):
            out.append([p.indexed_text for p, _ in self._retriever.search(question, depth)])
            if progress and i % 500 == 0:
                _say(f"retrieved passages for {i} of {len(questions)} questions", progress)
        return out

    def close(self) -> None:
        if self._coll is not None:
            self._coll.close()


def nq_items(retrieve: _Retrieval, path: str | Path, depth: int, limit: int | None, progress: bool) -> list[Item]:
    qa = read_qa(path)
    questions = qa.questions[:limit] if limit else qa.questions
    if not questions:
        raise RagError(f"{path}: no usable questions ({qa.problems() or 'empty file'})")
    contexts = retrieve([q.question for q in questions], depth, progress)
    return [(q.question, list(q.answers), c) for q, c in zip(questions, contexts)]


def squad_examples(
    retrieve: _Retrieval, path: str | Path, negatives: int, limit: int | None, seed: int, progress: bool
) -> tuple[list[ReaderExample], list[Item]]:
    rows = read_squad(path)[:limit] if limit else read_squad(path)
    if not rows:
        raise RagError(f"{path}: no answerable questions")
    rng = random.Random(seed)
    by_title: dict[str, list[str]] = {}
    for title, context, _, _ in rows:
        if context not in by_title.setdefault(title, []):
            by_title[title].append(context)
    retrieved = retrieve([r[2] for r in rows], negatives + 5, progress) if retrieve.collection else None
    examples, items = [], []
    for i, (title, context, question, answers) in enumerate(rows):
        texts = [a for a, _ in answers]
        if retrieved is not None:
            pool = [c for c in retrieved[i] if context not in c and not answer_spans(c, texts)]
        else:
            pool = [c for c in by_title[title] if c != context]
            rng.shuffle(pool)
        example = gold_span_example(question, context, answers, pool[:negatives])
        if example is not None:
            examples.append(example)
            items.append((question, texts, [context, *pool[:negatives]]))
    return examples, items


def run_reader_training(settings: Settings, job: ReaderJob, *, progress: bool = True) -> ReaderRun:
    """Everything `rag train-reader` does, from parsed arguments (see `rag train-reader --help`)."""
    from retrievers.reader import ReaderTrainConfig, read_reader_record, train_reader

    qa_paths = [Path(f) for f in job.qa]  # --qa takes one or more files
    for qa_path in qa_paths:
        if not qa_path.is_file():
            raise RagError(f"{qa_path}: no such file")
    given = {k: getattr(job, k) for k in TRAINING_FLAGS}
    config = ReaderTrainConfig(
        base=job.base or settings.encoder,
        seed=job.seed,
        device=settings.device,
        **{k: v for k, v in given.items() if v is not None},
    )
    config.validate()
    name = settings.collection or qa_paths[0].stem
    out_dir = Path(job.out).expanduser() if job.out else default_reader_dir(settings, name)
    if out_dir.exists() and any(out_dir.iterdir()) and not job.overwrite:
        what = "a trained reader" if read_reader_record(out_dir) else "files"
        raise RagError(f"{out_dir} already holds {what}: use --overwrite, or another --out")
    negatives = config.passages - 1
    # before the labelling, so that a bad --cloze-from fails at once
    cloze, cloze_source = _cloze(settings, job, progress)
    retrieve = _Retrieval(settings, settings.collection)
    try:
        train_examples, held_items, report_line = _labelled(retrieve, qa_paths, job, negatives, progress)
    finally:
        retrieve.close()
    if len(train_examples) < 2:
        raise RagError(
            f"only {len(train_examples)} questions to train on ({report_line}); check that the questions "
            "are about this collection, or raise --depth"
        )
    _say(
        f"training on {len(train_examples)} questions, validating on {len(held_items)} held-out questions "
        f"(each reading its top {job.read} passages)",
        progress,
    )
    files = [str(f.resolve()) for f in qa_paths]
    provenance = {
        "file": files[0] if len(files) == 1 else files,
        "collection": settings.collection,
        "depth": job.depth,
        "validation_file": str(Path(job.validation).resolve()) if job.validation else None,
        "labelled": report_line,
    }
    if cloze:
        provenance["cloze"] = {"questions": len(cloze), "collection": cloze_source}
    try:
        result = train_reader(
            train_examples,
            out_dir,
            config,
            validation=held_items,
            provenance=provenance,
            pretrain=cloze,
            progress=progress,
            log=lambda line: _say(line, progress),
        )
    except KeyboardInterrupt:
        raise RagError(f"training interrupted; nothing was saved to {out_dir}") from None
    return ReaderRun(result.record, _summary(result, settings.collection), out_dir)


def _labelled_file(
    retrieve: _Retrieval, qa_path: Path, job: ReaderJob, negatives: int, progress: bool
) -> tuple[list[ReaderExample], list[Item], str]:
    """One training file's examples, its items and a line saying what its labelling found."""
    if is_squad(qa_path):
        examples, items = squad_examples(retrieve, qa_path, negatives, job.limit, job.seed, progress)
        return examples, items, f"{len(examples)} questions with gold spans from {qa_path.name}"
    items = nq_items(retrieve, qa_path, job.depth, job.limit, progress)
    examples, report = label_all(items, max_positives=job.max_positives, max_negatives=negatives)
    return examples, items, report.summary()


def _labelled(
    retrieve: _Retrieval, qa_paths: Sequence[Path], job: ReaderJob, negatives: int, progress: bool
) -> tuple[list[ReaderExample], list[Item], str]:
    """Training examples of every file (mixed), held-out items and a line saying what the labelling found."""
    examples, items, lines = [], [], []
    for qa_path in qa_paths:
        file_examples, file_items, line = _labelled_file(retrieve, qa_path, job, negatives, progress)
        examples += file_examples
        items += file_items
        lines.append(line if len(qa_paths) == 1 else f"{qa_path.name}: {line}")
    report_line = "; ".join(lines)
    _say(report_line, progress)
    if job.validation:
        if is_squad(job.validation):
            _, held_items = squad_examples(retrieve, job.validation, negatives, None, job.seed, progress)
        else:
            held_items = nq_items(retrieve, job.validation, job.read, MAX_VALIDATION_QUESTIONS, progress)
        held_items = held_items[:MAX_VALIDATION_QUESTIONS]
        held = {q for q, _, _ in held_items}
        train_examples = [e for e in examples if e.question not in held]
    else:
        rng = random.Random(job.seed)
        order = list(range(len(examples)))
        rng.shuffle(order)
        cut = min(MAX_VALIDATION_QUESTIONS, int(len(examples) * job.validation_fraction))
        held_idx = set(order[:cut])
        train_examples = [e for i, e in enumerate(examples) if i not in held_idx]
        by_question = {q: (q, a, c[: job.read]) for q, a, c in items}
        held_items = [
            by_question[examples[i].question] for i in sorted(held_idx) if examples[i].question in by_question
        ]
    return train_examples, held_items, report_line


def _cloze(settings: Settings, job: ReaderJob, progress: bool) -> tuple[list[ReaderExample], str | None]:
    """`--cloze N` questions made from the passages of `--cloze-from` (default: the collection), and
    the name of the collection they come from."""
    count = job.cloze or 0
    if count < 0:
        raise RagError("--cloze must be 0 or more")
    if not count:
        return [], None
    coll = open_collection(settings, job.cloze_from or settings.collection)
    try:
        name = coll.name
        texts = [p.indexed_text for p in coll.passages()]
    finally:
        coll.close()
    examples = cloze_examples(texts, count, seed=job.seed)
    _say(
        f"{len(examples)} cloze questions from {len(texts)} passages, e.g. " + "; ".join(describe(examples, 2)),
        progress,
    )
    if not examples:
        raise RagError(
            f"no cloze questions could be made from the {len(texts)} passages (no dates, numbers or "
            "names in sentences of 6 to 40 words); run without --cloze"
        )
    return examples, name


def _say(line: str, progress: bool) -> None:
    if progress:
        print(line, file=sys.stderr, flush=True)


def _summary(result: Any, collection: str | None) -> str:
    record = result.record
    lines = [f"saved the reader to {result.out_dir} ({record['steps']} steps, {record['seconds']:.0f} s)"]
    pre = record.get("pretraining")
    if pre:
        lines.append(
            f"cloze pretraining: {pre['examples']} questions, {pre['steps']} steps, {pre['seconds']:.0f} s, "
            f"span loss {pre['loss']['first']:.3f} -> {pre['loss']['last']:.3f}"
        )
    if record["loss"]["first"] is not None:
        lines.append(f"training loss {record['loss']['first']:.3f} -> {record['loss']['last']:.3f}")
    if result.validation:
        before, best = result.validation[0], result.validation[result.best_epoch]
        lines.append(
            f"held-out ({best['questions']} questions): EM {before['em']:.1f} -> {best['em']:.1f}, "
            f"F1 {before['f1']:.1f} -> {best['f1']:.1f}, answer from a passage holding a gold answer "
            f"{best['passage_has_answer']:.1f}% (epoch {result.best_epoch})"
        )
        if best.get("answerable"):
            lines.append(
                f"  on the {best['answerable']} whose passages hold an answer: "
                f"EM {best['em_answerable']:.1f}, F1 {best['f1_answerable']:.1f}"
            )
    averaged, members = record.get("averaged"), record.get("members") or []
    if averaged:
        each = ", ".join(f"{m['validation']['f1']:.1f}" for m in members if m.get("validation"))
        lines.append(
            f"averaged weights of {len(members)} readers (held-out F1 of each: {each}): "
            f"EM {averaged['em']:.1f}, F1 {averaged['f1']:.1f}"
        )
    choice = record.get("passage_choice")
    if choice:
        sel, ret = choice["selection"], choice["retriever"]
        lines.append(
            f"answer's passage chosen by: {choice['chosen']} (selection head EM {sel['em']:.1f}, F1 "
            f"{sel['f1']:.1f}; retriever's order EM {ret['em']:.1f}, F1 {ret['f1']:.1f}; the selection "
            f"head better on {choice['selection_wins']} questions, worse on {choice['selection_losses']})"
        )
    target = f" -c {collection}" if collection else ""
    lines.append(f"next: rag ask{target} --reader {result.out_dir} QUESTION")
    return "\n".join(lines)
