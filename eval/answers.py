"""Answer evaluation: SQuAD exact match and F1, answer containment, citation accuracy, groundedness,
latency and tokens, for our engine or any LlamaIndex query engine.

Long runs resume: with a results file, each answer is appended as soon as it is scored, and a
rerun skips the questions already there (for the same model).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from prompts.delimiters import passage_block
from retrievers.datasets import EvalDataset, EvalQuestion, load_dataset
from retrievers.errors import RagError

from .metrics import answer_contained, citation_accuracy, exact_match, lexical_support, token_f1

_CITATION = re.compile(r"\s*\[\d{1,3}\]")
MAX_CONSECUTIVE_FAILURES = 3
_METRICS = (
    "em",
    "f1",
    "answer_contained",
    "citation_accuracy",
    "lexical_support",
    "faithfulness",
    "reader_em",
    "reader_f1",
    "reader_citation_accuracy",
    "combined_em",
    "combined_f1",
)


@dataclass
class Reply:
    """What one answer amounts to for scoring, whichever engine produced it."""

    text: str
    seen: list[str]  # texts of every passage the model read
    cited: list[str]  # texts of the passages the answer cites
    retrieved_ids: list[str] = field(default_factory=list)
    refused: bool = False
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    short_answer: str | None = None  # the reader's span, when the engine has a reader
    short_passage: str | None = None  # the passage it comes from
    grounded: str | None = None  # the generated answer snapped to a span of a cited passage
    reader_ms: float | None = None  # the reader and its span check, when they ran
    lead_ms: float | None = None  # from the question to the answer's lead (its first useful words)


def reply_function(engine: Any) -> tuple[str, Callable[[str], Reply]]:
    """(model label, question -> Reply) for our `Engine` or a LlamaIndex query engine."""
    if hasattr(engine, "ask") and hasattr(engine, "llm"):

        def ask(question: str) -> Reply:
            answer = engine.ask(question)
            short, grounded = answer.short_answer, answer.grounded
            return Reply(
                answer.answer,
                [s.passage.indexed_text for s in answer.sources],
                [s.passage.indexed_text for s in answer.cited],
                [s.passage.id for s in answer.sources],
                answer.refused,
                float(answer.timings.get("total_ms", 0.0)),
                answer.usage.get("prompt_tokens"),
                answer.usage.get("completion_tokens"),
                short.text if short else None,
                short.context if short else None,
                grounded.text if grounded else None,
                _reader_ms(answer.timings),
                answer.timings.get("lead_ms"),
            )

        return engine.llm.model, ask
    if hasattr(engine, "query"):
        from llama_index.core.schema import MetadataMode

        def query(question: str) -> Reply:
            start = time.perf_counter()
            response = engine.query(question)
            ms = 1000 * (time.perf_counter() - start)
            nodes = list(getattr(response, "source_nodes", None) or [])
            texts = [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes]
            return Reply(
                str(getattr(response, "response", response) or ""),
                texts,
                texts,
                [n.node.node_id for n in nodes],
                latency_ms=ms,
            )

        llm = getattr(engine, "_llm", None) or getattr(getattr(engine, "_response_synthesizer", None), "_llm", None)
        label = getattr(getattr(llm, "metadata", None), "model_name", None) or type(engine).__name__
        return str(label), query
    raise RagError(f"cannot evaluate answers from a {type(engine).__name__}: give an Engine or a query engine")


def _reader_ms(timings: dict[str, float]) -> float | None:
    """What the reader and its span check added to an answer, or None when no reader ran."""
    if "reader_ms" not in timings:
        return None
    return round(timings["reader_ms"] + timings.get("span_check_ms", 0.0), 1)


def gold_answers(q: EvalQuestion) -> list[str]:
    """The short answers when the dataset has them, else its reference answer."""
    if q.answers:
        return list(q.answers)
    return [q.reference_answer] if q.reference_answer else []


class Judge:
    """An LLM asked whether an answer is supported by the passages (YES/NO), through our `LLM`."""

    def __init__(self, llm: Any, prompt: Any) -> None:
        self.llm = llm
        self.prompt = prompt

    def __call__(self, question: str, answer: str, passages: Sequence[str]) -> float | None:
        context = "\n\n".join(passage_block(p, n=i) for i, p in enumerate(passages, start=1))
        text = self.prompt.format(context=context, question=question, answer=passage_block(answer, kind="answer"))
        reply = self.llm.complete([{"role": "user", "content": text}]).text.strip().upper()
        if reply.startswith("YES"):
            return 1.0
        if reply.startswith("NO"):
            return 0.0
        return None  # an unusable verdict is not counted either way


def score_reply(q: EvalQuestion, reply: Reply, label: str, judge: Judge | None = None) -> dict:
    """One `results.jsonl` record: the question, gold, answer, passages and every metric."""
    golds = gold_answers(q)
    plain = _CITATION.sub("", reply.text).strip()
    record: dict[str, Any] = {
        "model": label,
        "id": q.id,
        "question": q.question,
        "gold": golds,
        "answer": reply.text,
        "refused": reply.refused,
        "retrieved": reply.retrieved_ids,
        "cited_passages": len(reply.cited),
        "em": exact_match(plain, golds) if golds else None,
        "f1": token_f1(plain, golds) if golds else None,
        "answer_contained": answer_contained(plain, golds) if golds else None,
        "citation_accuracy": citation_accuracy(reply.cited, golds) if golds and q.answers else None,
        "lexical_support": None if reply.refused else lexical_support(plain, reply.seen),
        "faithfulness": None,
        "latency_ms": round(reply.latency_ms, 1),
        "reader_ms": reply.reader_ms,
        "lead_ms": reply.lead_ms,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
    }
    if golds and (reply.short_answer is not None or reply.grounded is not None):
        record.update(short_answer=reply.short_answer, grounded_answer=reply.grounded)
        if reply.short_answer is not None:
            record["reader_em"] = exact_match(reply.short_answer, golds)
            record["reader_f1"] = token_f1(reply.short_answer, golds)
            if q.answers:
                record["reader_citation_accuracy"] = citation_accuracy([reply.short_passage or ""], golds)
        combined = reply.grounded or reply.short_answer  # the LLM's answer as a span, else the reader's
        record["combined_em"] = exact_match(combined, golds)
        record["combined_f1"] = token_f1(combined, golds)
    if judge is not None and not reply.refused and reply.seen:
        record["faithfulness"] = judge(q.question, plain, reply.seen)
    return record


def summarize_answers(records: Sequence[dict]) -> dict[str, float]:
    """Means over the questions where each metric applies, as percentages; latency and tokens per answer."""
    out: dict[str, float] = {}
    for name in _METRICS:
        values = [r[name] for r in records if r.get(name) is not None]
        if values:
            out[name] = round(100 * sum(values) / len(values), 1)
    out["refused"] = round(100 * sum(1 for r in records if r["refused"]) / max(1, len(records)), 1)
    latencies = [r["latency_ms"] for r in records]
    if latencies:
        out["latency_ms_mean"] = round(statistics.fmean(latencies), 1)
        out["latency_ms_p50"] = round(statistics.median(latencies), 1)
    for name in ("reader_ms", "lead_ms"):  # medians, as the latency targets are
        values = [r[name] for r in records if r.get(name) is not None]
        if values:
            out[f"{name}_p50"] = round(statistics.median(values), 1)
    for name in ("prompt_tokens", "completion_tokens"):
        values = [r[name] for r in records if r.get(name) is not None]
        if values:
            out[f"{name}_mean"] = round(statistics.fmean(values), 1)
    return out


@dataclass
class AnswerReport:
    dataset: str
    collection: str
    questions_read: int
    questions: int
    rows: list[dict] = field(default_factory=list)
    details: list[dict] = field(default_factory=list)
    resumed: int = 0  # answers taken from an earlier run's results file
    warnings: list[str] = field(default_factory=list)

    @property
    def results(self) -> dict[str, dict[str, float]]:
        return {row["model"]: {k: v for k, v in row.items() if k != "model"} for row in self.rows}

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "collection": self.collection,
            "questions_read": self.questions_read,
            "n_questions": self.questions,
            "resumed": self.resumed,
            "results": self.results,
            "warnings": self.warnings,
        }

    def table(self) -> str:
        names = [
            n
            for n in (*_METRICS, "refused", "latency_ms_mean", "reader_ms_p50", "lead_ms_p50", "completion_tokens_mean")
            if any(n in row for row in self.rows)
        ]
        lines = [
            f"{self.questions} of {self.questions_read} questions ({self.dataset}) over {self.collection}"
            + (f"; {self.resumed} answers from the earlier run" if self.resumed else ""),
            "| model | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for row in self.rows:
            lines.append(f"| {row['model']} | " + " | ".join(f"{row[n]:.1f}" if n in row else "" for n in names) + " |")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def read_results(path: Path, label: str) -> dict[str, dict]:
    """Records already scored for `label`; a torn last line (an interrupted write) is ignored."""
    done: dict[str, dict] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("model") == label and "id" in record:
            done[str(record["id"])] = record
    return done


def evaluate_answers(
    dataset: EvalDataset | str,
    engine: Any,
    *,
    label: str | None = None,
    limit: int | None = None,
    results_path: str | Path | None = None,
    judge: Judge | None = None,
    collection: str = "",
    progress: bool = False,
) -> AnswerReport:
    """Ask every question and score the answers; with `results_path`, append as it goes and resume.

    from eval import evaluate_answers
    report = evaluate_answers("squad:dev-v1.1.json", my_query_engine, limit=50)
    """
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    model, reply = reply_function(engine)
    label = label or model
    questions = [q for q in data.questions if gold_answers(q)][: limit or None]
    report = AnswerReport(data.path, collection, len(data.questions), len(questions))
    if len(questions) < min(len(data.questions), limit or len(data.questions)):
        report.warnings.append("questions without a gold answer are left out")
    path = Path(results_path) if results_path else None
    done = read_results(path, label) if path else {}
    if path:
        _drop_torn_line(path)
    records: list[dict] = []
    failures = 0
    for q in _progress(questions, progress, label):
        if q.id in done:
            records.append(done[q.id])
            report.resumed += 1
            continue
        try:
            record = score_reply(q, reply(q.question), label, judge)
        except RagError as exc:  # one failed call is reported, the rest of the run goes on
            report.warnings.append(f"{q.id}: {exc}")
            failures += 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                kept = f"; the {len(records)} answers so far are in {path}: rerun to resume" if path else ""
                raise RagError(f"{failures} answers failed in a row, last: {exc}{kept}") from None
            continue
        failures = 0
        records.append(record)
        if path:
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    report.rows.append({"model": label, **summarize_answers(records)})
    report.details = records
    return report


def _drop_torn_line(path: Path) -> None:
    """Cut a last line that an interrupted run left without its newline, so appends start clean."""
    data = path.read_bytes() if path.is_file() else b""
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _progress(items: Sequence, enabled: bool, label: str):  # type: ignore[no-untyped-def]
    if not enabled:
        return items
    import sys

    from tqdm.auto import tqdm

    return tqdm(items, desc=label, unit="q", file=sys.stderr)
