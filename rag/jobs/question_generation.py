"""`rag generate-questions`: training pairs for a collection that has no questions, written by an LLM.

Each sampled passage goes to a LlamaIndex LLM (`rag.llm.llamaindex.LlamaIndexLLM` wraps the configured
model; any other LlamaIndex LLM works) with the `questions` prompt, LlamaIndex's question-generation
prompt shape (`{context_str}`, `{num_questions_per_chunk}`). `generate_question_context_pairs` itself
left llama-index-core in 0.14, and its successor in llama-index-finetuning pulls in Azure, Mistral and
Cohere clients, so the loop is here. What comes back is cleaned (numbering, preambles, copies of the
passage, duplicates dropped) and appended to a pair file `{"question", "positive", "passage_id", "title"}`
that `rag train` reads. Lines are written as they arrive to `OUT.partial`, moved to OUT at the end,
so an interrupted run keeps its work and `--resume` carries on from it.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from prompts.delimiters import passage_block
from retrievers.answer_text import normalize
from retrievers.errors import RagError
from retrievers.stores import Collection

MAX_CONSECUTIVE_FAILURES = 3
_LEAD = re.compile(r"^\s*(?:(?:[-*\u2022]+|\(?\d+[.):]|q\d*[.:]|question\s*\d*[.:])\s*)+", re.IGNORECASE)
_SPARE_LINES = 2  # the model may open with "Here are the questions:" or the like


@dataclass
class GenerationReport:
    """Every passage and every line the model wrote is accounted for."""

    out: str
    passages: int = 0  # asked about in this run
    resumed: int = 0  # already done by an earlier run
    questions: int = 0
    failed: int = 0  # the model call failed
    dropped: dict[str, int] = field(
        default_factory=lambda: {"not a question": 0, "copies the passage": 0, "duplicate": 0, "too short or long": 0}
    )
    seconds: float = 0.0
    first_error: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = [
            f"{self.questions} questions from {self.passages} passages written to {self.out} in {self.seconds:.0f} s"
        ]
        if self.resumed:
            parts.append(f"{self.resumed} passages done by the earlier run")
        parts += [f"{n} lines dropped ({why})" for why, n in self.dropped.items() if n]
        if self.failed:
            parts.append(f"{self.failed} model calls failed (first: {self.first_error})")
        return "; ".join(parts)


def clean_question(line: str, passage: str) -> tuple[str | None, str]:
    """The question in one line of model output, or None and the reason it is not one."""
    text = _LEAD.sub("", line.strip()).strip().strip('"\u201c\u201d').strip()
    if not text.endswith("?"):
        return None, "not a question"
    words = len(text.split())
    if words < 3 or words > 40:
        return None, "too short or long"
    if normalize(text.rstrip("?")) in normalize(passage):
        return None, "copies the passage"
    return text, ""


def sample_passages(collection: Collection, n: int, seed: int) -> list[str]:
    """`n` passage ids drawn with `seed` (all of them, in a seeded order, when `n` is 0 or too big)."""
    ids = sorted(collection.ids())
    random.Random(seed).shuffle(ids)
    return ids[:n] if n else ids


def _done(partial: Path) -> tuple[set[str], set[str]]:
    """Passage ids and normalised questions already in a partial file; a torn last line is cut off."""
    raw = partial.read_bytes()
    end = raw.rfind(b"\n") + 1
    if end < len(raw):
        with open(partial, "r+b") as fh:
            fh.truncate(end)
    passages: set[str] = set()
    questions: set[str] = set()
    for line in raw[:end].decode("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            passages.add(str(record.get("passage_id")))
            questions.add(normalize(str(record.get("question", ""))))
    return passages, questions


def _partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def check_out(out: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse to clobber a finished file or to ignore an interrupted one."""
    partial = _partial_path(out)
    if out.exists() and not overwrite and not resume:
        raise RagError(f"{out} exists: pass --overwrite to replace it")
    if partial.exists() and not overwrite and not resume:
        raise RagError(
            f"{partial} holds an interrupted run: pass --resume to continue it or --overwrite to start again"
        )


def generate_pairs(
    collection: Collection,
    llm: Any,
    out: str | Path,
    *,
    passages: int = 200,
    per_passage: int = 1,
    prompt: str,
    seed: int = 42,
    overwrite: bool = False,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> GenerationReport:
    """Ask `llm` (a LlamaIndex LLM) for `per_passage` questions about each of `passages` sampled passages.

    `prompt` takes LlamaIndex's `{context_str}` and `{num_questions_per_chunk}`. After
    `MAX_CONSECUTIVE_FAILURES` failed calls in a row (a model that cannot be reached, say) the run
    stops with the model's error; what was written stays in the partial file for `--resume`.
    """
    out = Path(out).expanduser()
    check_out(out, overwrite=overwrite, resume=resume)
    if per_passage < 1:
        raise RagError("--per-passage must be at least 1")
    partial = _partial_path(out)
    if overwrite and partial.exists():
        partial.unlink()
    if resume and out.exists() and not partial.exists():
        os.replace(out, partial)  # extend a finished file: the same seed continues the same passage order
    done, seen = _done(partial) if partial.exists() else (set(), set())
    report = GenerationReport(str(out), resumed=len(done))
    todo = [pid for pid in sample_passages(collection, passages, seed) if pid not in done]
    if passages:
        todo = todo[: max(0, passages - len(done))]
    start = time.perf_counter()
    failures = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as fh:
        for batch in _batches(todo, 32):
            texts = collection.get(batch)
            for pid in batch:
                passage = texts.get(pid)
                if passage is None:
                    continue
                try:
                    block = passage_block(passage.indexed_text, title=passage.title)
                    reply = str(llm.complete(prompt.format(context_str=block, num_questions_per_chunk=per_passage)))
                except Exception as exc:  # noqa: BLE001 - one passage's failure must not lose the others
                    failures += 1
                    report.failed += 1
                    report.first_error = report.first_error or " ".join(str(exc).split())[:200]
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        report.seconds = time.perf_counter() - start
                        raise RagError(
                            f"{failures} model calls failed in a row, stopping: {report.first_error}. "
                            f"{report.questions} questions so far are in {partial}; fix the model and "
                            "run the same command with --resume"
                        ) from exc
                    continue
                failures = 0
                report.passages += 1
                kept = _write_questions(fh, reply, pid, passage, per_passage, seen, report)
                if not kept:  # remembered as done, so --resume does not ask again; dropped by _finish
                    fh.write(json.dumps({"passage_id": pid, "questions": 0}) + "\n")
                fh.flush()
                if progress:
                    progress(report.passages, len(todo))
    _finish(partial, out)
    report.seconds = time.perf_counter() - start
    return report


def _write_questions(
    fh: Any, reply: str, pid: str, passage: Any, per_passage: int, seen: set[str], report: GenerationReport
) -> int:
    """Write up to `per_passage` clean, new questions of the model's reply as pairs with their passage; the
    rest are counted in the report by why they were dropped. Returns how many were written."""
    kept = 0
    for line in [t for t in reply.splitlines() if t.strip()][: per_passage + _SPARE_LINES]:
        question, why = clean_question(line, passage.indexed_text)
        if question is not None and normalize(question) in seen:
            question, why = None, "duplicate"
        if question is None or kept == per_passage:
            if question is None:
                report.dropped[why] += 1
            continue
        seen.add(normalize(question))
        kept += 1
        report.questions += 1
        pair = {"question": question, "positive": passage.indexed_text, "passage_id": pid, "title": passage.title}
        fh.write(json.dumps(pair, ensure_ascii=False) + "\n")
    return kept


def _finish(partial: Path, out: Path) -> None:
    """Move the partial file into place without the markers of passages that gave no question."""
    tmp = out.with_name(out.name + ".tmp")
    with open(partial, encoding="utf-8") as src, open(tmp, "w", encoding="utf-8") as dst:
        for line in src:
            try:
                if "question" in json.loads(line):
                    dst.write(line)
            except ValueError:
                continue
    os.replace(tmp, out)
    partial.unlink()


def _batches(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
