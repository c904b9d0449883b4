"""Retrieval evaluation: DPR's Table-2 top-k accuracy, and recall/MRR/nDCG against gold documents.

Any retriever can be scored (`evaluate_retrievers`): ours, any LlamaIndex `BaseRetriever`, or a
function. `evaluate_retrieval` is what `rag eval retrieval` runs: BM25 once, then dense and each
hybrid fusion once per encoder. An encoder other than the collection's own is evaluated on a
re-encoded copy of the collection (`rag reindex`); the original vectors are never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from rag.config import Settings
from rag.documents.reindexing import reindex
from rag.reranking import build_reranker
from rag.retrieval import open_collection, open_retriever, reindexed_name
from retrievers.answer_text import Question, normalize
from retrievers.datasets import EvalDataset, EvalQuestion, load_dataset
from retrievers.encoders import model_name
from retrievers.errors import RagError
from retrievers.reranking import RerankedRetriever
from retrievers.stores import Collection

from .metrics import first_answer_rank, mrr_at_k, ndcg_at_k, recall_at_k, unique_ids
from .nq_vital import select
from .retrieval_report import RetrievalReport

DEFAULT_MODES = ("bm25", "dense", "hybrid-rrf", "hybrid-linear")
KNOWN_MODES = (*DEFAULT_MODES, "hybrid", "hybrid-rsf", "hybrid-dbsf")
RANK_K = 10  # MRR and nDCG cut-off, as BEIR reports them


@dataclass(frozen=True)
class Hit:
    """One retrieved passage: the document it belongs to (for gold ids), its text and score."""

    doc_id: str
    text: str
    score: float
    passage_id: str = ""


Search = Callable[[str, int], Sequence[Hit]]


def passage_doc_id(passage: Any) -> str:
    """A passage's document id: a record's own id, else its source file, else the passage id."""
    return str(passage.extra.get("doc_id") or passage.source or passage.id)


def node_doc_id(node: Any) -> str:
    """The same for a LlamaIndex node (our nodes carry `doc_id`/`source` in their metadata)."""
    meta = node.metadata or {}
    return str(meta.get("doc_id") or meta.get("source") or node.ref_doc_id or node.node_id)


def search_function(retriever: Any) -> Search:
    """A `Search` over one of our retrievers, any LlamaIndex `BaseRetriever`, or a function returning hits.

    Our retrievers are asked for exactly k passages; a LlamaIndex retriever returns its own
    `similarity_top_k`, so set that to the largest k you evaluate.
    """
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.schema import MetadataMode, NodeWithScore

    if hasattr(retriever, "search") and isinstance(retriever, BaseRetriever):
        return lambda q, k: [Hit(passage_doc_id(p), p.indexed_text, float(s), p.id) for p, s in retriever.search(q, k)]

    def from_nodes(nodes: Iterable[NodeWithScore], k: int) -> list[Hit]:
        return [
            Hit(
                node_doc_id(n.node),
                n.node.get_content(metadata_mode=MetadataMode.NONE),
                float(n.score or 0.0),
                n.node.node_id,
            )
            for n in list(nodes)[:k]
        ]

    if isinstance(retriever, BaseRetriever):
        return lambda q, k: from_nodes(retriever.retrieve(q), k)
    if callable(retriever):

        def call(q: str, k: int) -> list[Hit]:
            out = list(retriever(q, k))
            return from_nodes(out, k) if out and isinstance(out[0], NodeWithScore) else out[:k]

        return call
    raise RagError(f"cannot evaluate a {type(retriever).__name__}: give a LlamaIndex BaseRetriever or a function")


def score_questions(
    questions: Sequence[EvalQuestion],
    search: Search,
    ks: Sequence[int],
    label: str,
    *,
    progress: bool = False,
    extra_ms: float = 0.0,
) -> list[dict]:
    """Run every question; one record per question (what `results.jsonl` holds) for error analysis.

    `extra_ms` is added to each question's time: its share of work done for all questions at once
    (batched question encoding)."""
    depth = max(ks)
    records = []
    for q in _progress(questions, progress, label):
        start = time.perf_counter()
        hits = list(search(q.question, depth))[:depth]
        ms = 1000 * (time.perf_counter() - start) + extra_ms
        docs = [h.doc_id for h in hits]
        distinct = unique_ids(docs)
        records.append(
            {
                "retriever": label,
                "id": q.id,
                "question": q.question,
                "answers": list(q.answers),
                "gold": dict(q.gold),
                "retrieved": docs,
                "passage_ids": [h.passage_id for h in hits],
                "scores": [round(h.score, 6) for h in hits],
                "answer_rank": first_answer_rank([h.text for h in hits], q.answers) if q.answers else None,
                "gold_ranks": [rank for rank, d in enumerate(distinct, start=1) if q.gold.get(d, 0) > 0],
                "ms": round(ms, 2),
            }
        )
    return records


def summarize(records: Sequence[dict], ks: Sequence[int]) -> dict[str, float]:
    """Percentages (0-100) over the records: top-k accuracy where there are answers, recall@k,
    MRR@10 and nDCG@10 where there are gold documents."""
    out: dict[str, float] = {}
    answered = [r for r in records if r["answers"]]
    if answered:
        for k in ks:
            out[f"top{k}"] = _pct(
                sum(1 for r in answered if r["answer_rank"] is not None and r["answer_rank"] <= k), len(answered)
            )
    judged = [r for r in records if r["gold"]]
    if judged:
        for k in ks:
            out[f"recall@{k}"] = round(
                100 * sum(recall_at_k(r["retrieved"], r["gold"], k) for r in judged) / len(judged), 1
            )
        out[f"mrr@{RANK_K}"] = round(
            100 * sum(mrr_at_k(r["retrieved"], r["gold"], RANK_K) for r in judged) / len(judged), 1
        )
        out[f"ndcg@{RANK_K}"] = round(
            100 * sum(ndcg_at_k(r["retrieved"], r["gold"], RANK_K) for r in judged) / len(judged), 1
        )
    out["ms_per_question"] = round(sum(r["ms"] for r in records) / max(1, len(records)), 1)
    return out


def _pct(hits: int, n: int) -> float:
    return round(100.0 * hits / max(1, n), 1)


def evaluate_retrievers(
    dataset: EvalDataset | str,
    retrievers: Mapping[str, Any],
    *,
    ks: Sequence[int] = (1, 5, 20, 100),
    max_answer_passages: int | None = None,
    passages: Iterable[str] | None = None,
    limit: int | None = None,
    progress: bool = False,
) -> RetrievalReport:
    """Score any retrievers side by side on a dataset (a loaded one or a `FORMAT:PATH` spec).

        from eval import evaluate_retrievers
        report = evaluate_retrievers("beir:scifact", {"mine": my_llamaindex_retriever}, ks=[1, 10])
        print(report.table())

    `passages` (the collection's texts) enable the nq-vital question filter for answer-only
    questions: at least one passage has the answer, and at most `max_answer_passages` do.
    """
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    questions = filter_questions(data.questions, passages, max_answer_passages)[: limit or None]
    report = RetrievalReport(data.path, "", len(data.questions), len(questions), list(ks), format=data.format)
    for label, retriever in retrievers.items():
        add_row(report, label, questions, search_function(retriever), progress=progress, retriever=retriever)
    return report


def add_row(
    report: RetrievalReport,
    label: str,
    questions: Sequence[EvalQuestion],
    search: Search,
    *,
    progress: bool = False,
    gold_metrics: bool = True,
    retriever: Any = None,
    **facts: Any,
) -> None:
    """Score one retriever and append its row (and its per-question records) to the report.

    `gold_metrics=False` leaves out recall, MRR and nDCG (the collection lacks the gold documents).
    A `retriever` with a `prime` method (ours) has all questions encoded in batches first.
    """
    extra_ms = 0.0
    if questions and hasattr(retriever, "prime"):
        start = time.perf_counter()
        retriever.prime([q.question for q in questions])
        extra_ms = 1000 * (time.perf_counter() - start) / len(questions)
    records = score_questions(questions, search, report.ks, label, progress=progress, extra_ms=extra_ms)
    summary = summarize(records, report.ks)
    if not gold_metrics:
        summary = {k: v for k, v in summary.items() if not k.startswith(("recall@", "mrr@", "ndcg@"))}
    report.rows.append({"retriever": label, **facts, **summary})
    report.details.extend(records)


def filter_questions(
    questions: Sequence[EvalQuestion], passages: Iterable[str] | None, max_answer_passages: int | None
) -> list[EvalQuestion]:
    """The nq-vital rule for questions judged by answer match only (no gold documents); others are kept."""
    if passages is None:
        return list(questions)
    answer_only = [q for q in questions if q.answers and not q.gold]
    if not answer_only:
        return list(questions)
    as_questions = [Question(q.question, [normalize(a) for a in q.answers]) for q in answer_only]
    keep = {id(q) for q, s in zip(answer_only, _kept(as_questions, passages, max_answer_passages)) if s}
    return [q for q in questions if q.gold or id(q) in keep]


def _kept(questions: list[Question], passages: Iterable[str], limit: int | None) -> list[bool]:
    chosen = {id(q) for q in select(questions, passages, limit)}
    return [id(q) in chosen for q in questions]


def expand_modes(modes: Sequence[str]) -> list[str]:
    """Mode labels, with `hybrid` standing for each fusion method."""
    out: list[str] = []
    for mode in modes:
        mode = mode.strip()
        if mode not in KNOWN_MODES:
            raise RagError(f"unknown mode {mode!r}: choose from {', '.join(KNOWN_MODES)}")
        for label in ["hybrid-rrf", "hybrid-linear"] if mode == "hybrid" else [mode]:
            if label not in out:
                out.append(label)
    return out


def model_label(name: str) -> str:
    """A short label for a model: a shipped model's name, or the last part of its directory."""
    return Path(name).name if "/" in name else name


def collection_for_encoder(
    settings: Settings, source: Collection, encoder: str | None, *, progress: bool = False
) -> Collection:
    """`source` itself when it was encoded with `encoder` (or none is given), else its re-encoded copy."""
    if encoder is None or model_name(encoder) == source.model:
        return source
    target = reindexed_name(source.name, encoder)
    reindex(settings, source.name, encoder, into=target, progress=progress)
    return open_collection(settings, target)


def evaluate_retrieval(
    settings: Settings,
    dataset: EvalDataset | str,
    collection: str | None = None,
    *,
    encoders: Sequence[str | None] = (None,),
    modes: Sequence[str] = DEFAULT_MODES,
    ks: Sequence[int] = (1, 5, 20, 100),
    max_answer_passages: int | None = 5,
    limit: int | None = None,
    distractors: str | None = None,
    progress: bool = False,
) -> RetrievalReport:
    """What `rag eval retrieval` runs: each mode over the collection, BM25 once, the rest per encoder.

    With no `collection`, a dataset with documents of its own (SQuAD, BEIR, LlamaIndex) is
    ingested into a collection named after it, with `distractors` (another collection) merged in.
    """
    from .corpus import dataset_collection

    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    labels = expand_modes(modes)
    if collection is None and settings.collection is None and data.documents:
        collection = dataset_collection(settings, data, distractors, progress=progress)
    elif distractors:
        raise RagError("--distractors goes with a dataset's own documents: leave out --collection")
    source = open_collection(settings, collection)
    try:
        passages = list(source.passages())  # read once: for the question filter and the gold-id check
        questions = filter_questions(data.questions, (p.indexed_text for p in passages), max_answer_passages)[
            : limit or None
        ]
        if not questions:
            raise RagError(
                f"none of the {len(data.questions)} questions in {data.path} can be scored on "
                f"collection {source.name!r}: no passage holds their answers"
            )
        report = RetrievalReport(
            data.path, source.name, len(data.questions), len(questions), list(ks), format=data.format
        )
        gold_metrics = _gold_in(questions, passages, report)
        several = len(encoders) > 1
        rows = _row_maker(settings, report, questions, gold_metrics, progress)
        for index, encoder in enumerate(encoders):
            coll = collection_for_encoder(settings, source, encoder, progress=progress)
            for label in labels:
                if not (label.startswith("bm25") and index > 0):  # BM25 does not depend on the encoder
                    rows(label, coll, name_models=several)
            if coll is not source:
                coll.close()
    finally:
        source.close()
    return report


def _gold_in(questions: Sequence[EvalQuestion], passages: Sequence[Any], report: RetrievalReport) -> bool:
    """Whether the collection carries the dataset's gold document ids (recall, MRR and nDCG need them)."""
    gold_ids = {d for q in questions for d in q.gold}
    if not gold_ids or not gold_ids.isdisjoint(passage_doc_id(p) for p in passages):
        return True
    report.warnings.append(
        "no passage of the collection carries one of the dataset's gold document ids, so "
        "recall, MRR and nDCG are left out (leave out --collection to search the "
        "dataset's own documents)"
    )
    return False


def _row_maker(
    settings: Settings, report: RetrievalReport, questions: Sequence[EvalQuestion], gold_metrics: bool, progress: bool
) -> Callable[..., None]:
    """A function adding one mode's row (and its reranked row, with `--rerank`) over a collection."""
    reranker = build_reranker(settings)
    first_stage = settings.model_copy(update={"reranker": None})

    def rows(label: str, coll: Collection, name_models: bool) -> None:
        model = coll.model or "?"
        mode, _, fusion = label.partition("-")
        options: dict = {"fusion": fusion} if fusion else {}
        retriever = open_retriever(first_stage.model_copy(update=options), coll, mode)
        name = label if mode == "bm25" or not name_models else f"{label} ({model_label(model)})"
        facts = {"mode": mode, "fusion": fusion or None, "model": None if mode == "bm25" else model}
        facts["collection"] = coll.name
        score = {"progress": progress, "gold_metrics": gold_metrics, **facts}
        add_row(report, name, questions, search_function(retriever), retriever=retriever, **score)
        if reranker is not None:
            reranked = RerankedRetriever(retriever, reranker, candidates=settings.rerank_candidates)
            add_row(
                report, f"{name} + {reranker.name}", questions, search_function(reranked), retriever=reranked, **score
            )

    return rows


def _progress(items: Sequence, enabled: bool, label: str):  # type: ignore[no-untyped-def]
    if not enabled:
        return items
    import sys

    from tqdm.auto import tqdm

    return tqdm(items, desc=label, unit="q", file=sys.stderr, leave=False)
