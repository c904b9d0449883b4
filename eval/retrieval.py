"""Retrieval evaluation: DPR's Table-2 top-k accuracy for BM25, dense and hybrid rows, per encoder.

An encoder other than the collection's own is evaluated on a re-encoded copy of the collection
(`rag reindex`), created or brought up to date on the way; the original vectors are never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rag.config import Settings
from rag.ingestion import reindex
from rag.retrieval import open_collection, open_retriever, reindexed_name
from retrievers.collection import Collection
from retrievers.encoders import model_name

from .nq_vital import read_nq_open, select, top_k_accuracy

DEFAULT_MODES = ("bm25", "dense", "hybrid-rrf", "hybrid-linear")


@dataclass
class RetrievalReport:
    dataset: str
    collection: str
    questions_read: int
    questions: int
    ks: list[int]
    rows: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"dataset": self.dataset, "collection": self.collection, "questions_read": self.questions_read,
                "n_questions": self.questions, "ks": self.ks, "rows": self.rows,
                # the shape `python -m eval.nq_vital --json` always had: label -> scores
                "results": {row["retriever"]: {k: v for k, v in row.items() if k.startswith("top") or k == "ms_per_question"}
                            for row in self.rows}}

    def table(self) -> str:
        lines = [f"{self.questions} of {self.questions_read} questions ({self.dataset}) over {self.collection}",
                 "| retriever | " + " | ".join(f"top-{k}" for k in self.ks) + " |",
                 "|---|" + "---|" * len(self.ks)]
        for row in self.rows:
            lines.append(f"| {row['retriever']} | " + " | ".join(f"{row[f'top{k}']:.1f}" for k in self.ks) + " |")
        return "\n".join(lines)


def model_label(name: str) -> str:
    """A short label for a model: a shipped model's name, or the last part of its directory."""
    return Path(name).name if "/" in name else name


def collection_for_encoder(settings: Settings, source: Collection, encoder: str | None, *,
                           progress: bool = False) -> Collection:
    """`source` itself when it was encoded with `encoder` (or none is given), else its re-encoded copy."""
    if encoder is None or model_name(encoder) == source.model:
        return source
    target = reindexed_name(source.name, encoder)
    reindex(settings, source.name, encoder, into=target, progress=progress)
    return open_collection(settings, target)


def evaluate_retrieval(settings: Settings, qa_path: str, collection: str | None = None, *,
                       encoders: Sequence[str | None] = (None,), modes: Sequence[str] = DEFAULT_MODES,
                       ks: Sequence[int] = (1, 5, 20, 100), max_answer_passages: int | None = 5,
                       progress: bool = False) -> RetrievalReport:
    """Top-k accuracy of each mode; BM25 once, dense and hybrid once per encoder (labelled with it)."""
    source = open_collection(settings, collection)
    read = read_nq_open(qa_path)
    questions = select(read, (p.text for p in source.passages()), max_answer_passages)
    report = RetrievalReport(qa_path, source.name, len(read), len(questions), list(ks))
    several = len(encoders) > 1
    for index, encoder in enumerate(encoders):
        coll = collection_for_encoder(settings, source, encoder, progress=progress)
        model = coll.model or "?"
        for label in modes:
            mode, _, fusion = label.partition("-")
            if mode == "bm25" and index > 0:
                continue  # BM25 does not depend on the encoder
            options: dict = {"fusion": fusion} if fusion else {}
            retriever = open_retriever(settings.model_copy(update=options), coll, mode)
            start = time.perf_counter()
            scores = top_k_accuracy(questions, lambda q, k, r=retriever: [p.text for p, _ in r.search(q, k)], ks)
            ms = round(1000 * (time.perf_counter() - start) / max(1, len(questions)), 1)
            name = label if mode == "bm25" or not several else f"{label} ({model_label(model)})"
            report.rows.append({"retriever": name, "mode": mode, "fusion": fusion or None,
                                "model": None if mode == "bm25" else model, "collection": coll.name,
                                **scores, "ms_per_question": ms})
        if coll is not source:
            coll.close()
    source.close()
    return report

