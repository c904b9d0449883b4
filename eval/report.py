"""Report folders: `report.md`, per-question `results.jsonl` and PNG plots (matplotlib, no display).

Every file is written to a temporary name and renamed, so an interrupted run never leaves a
half-written report behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Sequence

RESULTS = "results.jsonl"
REPORT = "report.md"
TOPK_PLOT = "topk_accuracy.png"
SCORES_PLOT = "score_distributions.png"
ANSWERS_PLOT = "answer_scores.png"


def write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(tmp, path)


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def accuracy_curves(details: Sequence[dict], depth: int) -> dict[str, tuple[str, list[float]]]:
    """Per retriever, the share of questions hit within k for k = 1..depth (percent).

    A hit is an answer-bearing passage for questions with answers, else a gold document.
    """
    by_label: dict[str, list[int | None]] = {}
    kinds: dict[str, set[str]] = {}
    for r in details:
        if r["answers"]:
            rank, kind = r["answer_rank"], "answer in top k"
        elif r["gold"]:
            rank, kind = (r["gold_ranks"][0] if r["gold_ranks"] else None), "gold document in top k"
        else:
            continue
        by_label.setdefault(r["retriever"], []).append(rank)
        kinds.setdefault(r["retriever"], set()).add(kind)
    curves = {}
    for label, ranks in by_label.items():
        n = len(ranks)
        curve = [100.0 * sum(1 for x in ranks if x is not None and x <= k) / n for k in range(1, depth + 1)]
        curves[label] = (" / ".join(sorted(kinds[label])), curve)
    return curves


def plot_topk(details: Sequence[dict], depth: int, path: Path, title: str) -> bool:
    curves = accuracy_curves(details, depth)
    if not curves:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ks = list(range(1, depth + 1))
    for label, (_, curve) in curves.items():
        ax.plot(ks, curve, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel("% of questions: " + next(iter(curves.values()))[0])
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)
    return True


def plot_scores(details: Sequence[dict], path: Path) -> bool:
    """Per retriever, the top-1 score of questions whose first passage is a hit vs a miss.

    Overlapping histograms mean the score cannot tell a good first passage from a bad one
    (useful when choosing a threshold or a fusion weight).
    """
    by_label: dict[str, tuple[list[float], list[float]]] = {}
    for r in details:
        if not r["scores"]:
            continue
        hit = r["answer_rank"] == 1 if r["answers"] else (bool(r["gold_ranks"]) and r["gold_ranks"][0] == 1)
        hits, misses = by_label.setdefault(r["retriever"], ([], []))
        (hits if hit else misses).append(r["scores"][0])
    if not by_label:
        return False
    plt = _pyplot()
    cols = min(3, len(by_label))
    rows = (len(by_label) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (label, (hits, misses)) in zip(axes.flat, by_label.items()):
        ax.hist(
            [hits, misses],
            bins=20,
            label=["top-1 correct", "top-1 wrong"],
            color=["tab:green", "tab:red"],
            alpha=0.7,
            stacked=False,
        )
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("top-1 score", fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(by_label) :]:
        ax.axis("off")
    fig.tight_layout()
    _save(fig, path)
    return True


def write_retrieval_report(report: object, out_dir: str | Path, command: str = "") -> list[Path]:
    """report.md, results.jsonl and both plots for a `RetrievalReport`; returns the files written."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    written = [out / RESULTS]
    write_jsonl(out / RESULTS, report.details)  # type: ignore[attr-defined]
    plots = []
    if plot_topk(report.details, max(report.ks), out / TOPK_PLOT, Path(report.dataset).name):  # type: ignore[attr-defined]
        plots.append(TOPK_PLOT)
    if plot_scores(report.details, out / SCORES_PLOT):  # type: ignore[attr-defined]
        plots.append(SCORES_PLOT)
    _write_markdown(
        out,
        "Retrieval evaluation",
        command,
        report.table(),  # type: ignore[attr-defined]
        "Percentages. top-k: questions with an answer-bearing passage in the top k (DPR's match); "
        "recall@k, MRR@10, nDCG@10: against the dataset's gold documents.",
        plots,
        "Per-question results (retrieved ids, hit ranks, scores)",
    )
    return written + [out / p for p in plots] + [out / REPORT]


def _write_markdown(
    out: Path, heading: str, command: str, table: str, legend: str, plots: list[str], results: str
) -> None:
    lines = [f"# {heading}", ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += [table, "", legend, ""]
    lines += [f"![{name}]({name})" for name in plots]
    lines += ["", f"{results}: `{RESULTS}`.", ""]
    write_atomic(out / REPORT, "\n".join(lines))


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: object, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)  # type: ignore[attr-defined]
    _pyplot().close(fig)
    os.replace(tmp, path)


def plot_answers(details: Sequence[dict], path: Path) -> bool:
    """Token F1 and latency per answer, as histograms (where most answers fall, and the slow tail)."""
    f1 = [r["f1"] for r in details if r.get("f1") is not None]
    latency = [r["latency_ms"] / 1000 for r in details if r.get("latency_ms") is not None]
    if not f1 and not latency:
        return False
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.hist(f1, bins=10, range=(0, 1), color="tab:blue")
    left.set_xlabel("token F1 against the gold answers")
    left.set_ylabel("answers")
    right.hist(latency, bins=20, color="tab:gray")
    right.set_xlabel("seconds per answer")
    fig.tight_layout()
    _save(fig, path)
    return True


def write_answer_report(report: object, out_dir: str | Path, command: str = "") -> list[Path]:
    """report.md and the answer plot; results.jsonl is appended by the run itself (it resumes from it)."""
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    plots = [ANSWERS_PLOT] if plot_answers(report.details, out / ANSWERS_PLOT) else []  # type: ignore[attr-defined]
    _write_markdown(
        out,
        "Answer evaluation",
        command,
        report.table(),  # type: ignore[attr-defined]
        "Percentages. em, f1: SQuAD exact match and token F1 (best over the gold answers); "
        "answer_contained: "
        "a gold answer appears in the answer; citation_accuracy: a cited passage holds a gold answer; "
        "lexical_support: share of the answer's content words found in the passages it read; faithfulness: "
        "the --judge model's verdict.",
        plots,
        "Per-question answers and scores",
    )
    return [out / p for p in plots] + [out / REPORT]
