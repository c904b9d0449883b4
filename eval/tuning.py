"""`rag tune`: choose a collection's hybrid fusion on labelled questions, so that fusion never loses to the best
single retriever on them.

Each question is retrieved once: the dense and BM25 runs (`candidates` deep, at least the largest k) with each
candidate's exact score from the other retriever, as the hybrid retriever fuses them. Every fusion method and
weight of the grid (RRF, DPR's linear over z-scores, relative score fusion, distribution-based fusion) is then
a re-ranking of those scores, so the whole grid costs one retrieval per question. A question counts as found at
k when a top-k passage holds one of its answers (DPR's match) or belongs to one of its gold documents.

The chosen setting is the one with the best mean top-k over the reported ks among those at or above the best
single retriever at every k; when no fusion is, the best single retriever itself is chosen (the collection's
mode becomes dense or bm25). It is saved in the collection's record; searches, answers and the server use it
unless a retrieval setting (mode, fusion, dense weight, normalisation) is given explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from rag.config import Settings
from rag.retrieval import TUNED_FIELDS, open_collection, open_retriever
from retrievers.answer_text import has_answer, normalize
from retrievers.datasets import EvalQuestion, load_dataset
from retrievers.errors import RagError
from retrievers.fusion import Fusion, fusion_normalization, linear_fusion, reciprocal_rank_fusion

from .retrieval import filter_questions, passage_doc_id

WEIGHTS = {  # the dense run's weight against BM25's 1
    Fusion.RRF: (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    Fusion.LINEAR: (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0),
    Fusion.RSF: (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    Fusion.DBSF: (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
}


@dataclass
class _Runs:
    """One question's candidates: the two runs in rank order, every candidate's exact scores, the relevant ids."""

    sparse: list[tuple[str, float]]
    dense: list[tuple[str, float]]
    sparse_scores: dict[str, float]
    dense_scores: dict[str, float]
    relevant: set[str]


@dataclass
class TuneReport:
    collection: str
    dataset: str
    questions: int
    ks: list[int]
    rows: list[dict] = field(default_factory=list)  # {"label", "mode", "fusion", "dense_weight", "top{k}": pct}
    chosen: dict = field(default_factory=dict)
    best_single: str = ""
    saved: bool = False

    def to_dict(self) -> dict:
        return {
            "collection": self.collection,
            "dataset": self.dataset,
            "questions": self.questions,
            "ks": self.ks,
            "best_single": self.best_single,
            "chosen": self.chosen,
            "saved": self.saved,
            "rows": self.rows,
        }

    def table(self) -> str:
        lines = [
            f"{self.questions} questions ({self.dataset}) over {self.collection}",
            "| setting | " + " | ".join(f"top-{k}" for k in self.ks) + " |",
            "|---|" + "---|" * len(self.ks),
        ]
        for row in self.rows:
            mark = " **chosen**" if row["label"] == self.chosen.get("label") else ""
            lines.append(f"| {row['label']}{mark} | " + " | ".join(f"{row[f'top{k}']:.1f}" for k in self.ks) + " |")
        verb = "saved for" if self.saved else "would be saved for (--dry-run)"
        lines.append(
            f"chosen: {self.chosen.get('label')} ({verb} collection {self.collection}); the best single "
            f"retriever is {self.best_single}"
        )
        return "\n".join(lines)


def tune_fusion(
    settings: Settings,
    dataset: str,
    collection: str | None = None,
    *,
    ks: Sequence[int] = (1, 5, 20, 100),
    max_answer_passages: int | None = 5,
    limit: int | None = None,
    save: bool = True,
) -> TuneReport:
    """Score every fusion setting of the grid on the dataset's questions and save the chosen one (`save`)."""
    data = load_dataset(dataset)
    ks = sorted(set(ks))
    if not ks or ks[0] < 1:
        raise RagError("-k: cut-offs are whole numbers of at least 1")
    coll = open_collection(settings, collection)
    try:
        passages = list(coll.passages())
        questions = filter_questions(data.questions, (p.indexed_text for p in passages), max_answer_passages)[
            : limit or None
        ]
        questions = [q for q in questions if q.answers or q.gold]
        if not questions:
            raise RagError(
                f"none of the {len(data.questions)} questions in {data.path} can be scored on collection "
                f"{coll.name!r}: no passage holds their answers"
            )
        untuned = settings.model_copy(update={"mode": "hybrid", "fusion": "linear"})
        hybrid = open_retriever(untuned, coll, "hybrid")
        depth = max(settings.candidates, ks[-1])
        hybrid.prime([q.question for q in questions])
        runs = [_runs(hybrid, coll, q, depth) for q in questions]
        report = TuneReport(coll.name, data.path, len(questions), list(ks))
        singles = [
            _row("bm25", "bm25", None, None, [[pid for pid, _ in r.sparse] for r in runs], runs, ks),
            _row("dense", "dense", None, None, [[pid for pid, _ in r.dense] for r in runs], runs, ks),
        ]
        fused = [
            _row(
                f"hybrid-{fusion.value} w={weight:g}",
                "hybrid",
                fusion,
                weight,
                [_fuse(r, fusion, weight, settings) for r in runs],
                runs,
                ks,
                settings.normalization if fusion is Fusion.LINEAR else None,
            )
            for fusion, weights in WEIGHTS.items()
            for weight in weights
        ]
        report.rows = singles + fused
        best = max(singles, key=lambda row: _mean(row, ks))
        report.best_single = best["label"]
        floor = {k: max(row[f"top{k}"] for row in singles) for k in ks}
        never_lose = [row for row in fused if all(row[f"top{k}"] >= floor[k] for k in ks)]
        chosen = max(never_lose, key=lambda row: (_mean(row, ks), row[f"top{ks[-1]}"])) if never_lose else best
        report.chosen = {key: chosen[key] for key in ("label", *TUNED_FIELDS)} | {
            "scores": {f"top{k}": chosen[f"top{k}"] for k in ks},
            "questions": len(questions),
            "dataset": data.path,
        }
        if save:
            coll.set_tuned(report.chosen)
            report.saved = True
        return report
    finally:
        coll.close()


def _runs(hybrid: Any, coll: Any, question: EvalQuestion, depth: int) -> _Runs:
    vector = hybrid.dense.encode_query(question.question)
    dense = hybrid.dense.search_ids(vector, depth)
    sparse = hybrid.sparse.search_ids(question.question, depth)
    sparse_scores, dense_scores = hybrid.exact_scores(question.question, vector, sparse, dense)
    answers = [a for a in (normalize(a) for a in question.answers) if a.strip()]
    gold = {doc for doc, grade in question.gold.items() if grade > 0}
    relevant = {
        pid
        for pid, p in coll.get(list(sparse_scores.keys() | dense_scores.keys())).items()
        if (answers and has_answer(answers, normalize(p.indexed_text))) or passage_doc_id(p) in gold
    }
    return _Runs(sparse, dense, sparse_scores, dense_scores, relevant)


def _fuse(runs: _Runs, fusion: Fusion, weight: float, settings: Settings) -> list[str]:
    if fusion is Fusion.RRF:
        fused = reciprocal_rank_fusion([runs.sparse, runs.dense], k=settings.rrf_k, weights=[1.0, weight])
    else:
        fused = linear_fusion(
            runs.sparse_scores,
            runs.dense_scores,
            weight=weight,
            normalization=fusion_normalization(fusion, settings.normalization),
        )
    return [pid for pid, _ in fused]


def _row(
    label: str,
    mode: str,
    fusion: Fusion | None,
    weight: float | None,
    rankings: list[list[str]],
    runs: list[_Runs],
    ks: Sequence[int],
    normalization: str | None = None,
) -> dict:
    row: dict[str, Any] = {
        "label": label,
        "mode": mode,
        "fusion": fusion.value if fusion else None,
        "dense_weight": weight,
        "normalization": normalization,
    }
    for k in ks:
        found = sum(1 for ranking, r in zip(rankings, runs) if r.relevant.intersection(ranking[:k]))
        row[f"top{k}"] = round(100.0 * found / max(1, len(runs)), 1)
    return row


def _mean(row: dict, ks: Sequence[int]) -> float:
    return sum(row[f"top{k}"] for k in ks) / len(ks)
