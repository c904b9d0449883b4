"""`rag bench`: how fast this setup is and how it grows, in one run on the same data.

For each corpus size and encoder backend, a fresh process ingests the corpus into a fresh store
(throughput split into parse, encode, Chroma write, SQLite table and BM25 build), then times
warm queries per retrieval mode (p50/p95/p99 at k=20), the answer path (time to first token,
tokens/s) and records peak RSS and the store's size on disk. The stock LlamaIndex pipeline
(`eval/baseline.py`) is timed on the same passages and vectors. With nq-open questions, top-20
accuracy of both is measured on the complete built-in corpus, so speed is never bought with recall.

Corpora: sizes up to the built-in corpus's 10,033 passages are seeded samples of it; larger ones
repeat it with perturbed copies (about one word in ten dropped, titles marked "variant N").
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.bench_corpus import builtin_records, corpus_records, write_corpus
from eval.bench_report import MODES, BenchReport, headline_size
from eval.machine import cpu_features, cpu_name
from eval.measures import folder_mb, peak_rss_mb, percentiles
from rag.config import Settings
from retrievers.errors import RagError

COLLECTION = "bench"
# the filtered search timed: one topic of the built-in corpus, about a tenth of its passages
FILTER = "topic=Geography"
QUICK_SIZES = (200,)
DEFAULT_SIZES = (1_000, 10_033)


@dataclass
class BenchOptions:
    """What one `rag bench` run measures."""

    sizes: Sequence[int] = DEFAULT_SIZES
    backends: Sequence[str] = ("torch", "onnx-int8")  # each NAME or NAME:WORKERS (passage encoder processes)
    queries: int = 200  # timed queries per mode
    warmup: int = 5
    k: int = 20
    qa: str | None = None  # nq-open questions: the timed queries, and top-20 on the full corpus
    max_answer_passages: int = 5  # the nq-vital question filter
    baseline: bool = True  # also time the stock LlamaIndex pipeline
    answers: int = 5  # questions answered for time to first token (0 = skip)
    work_dir: str | None = None  # where stores are built (default: a temporary folder, removed after)


def timing_queries(options: BenchOptions, base: Sequence[dict]) -> list[str]:
    """The questions timed: the nq-open file's, else questions made from sampled titles."""
    if options.qa:
        from retrievers.datasets import load_dataset

        questions = [q.question for q in load_dataset(f"nq-open:{options.qa}").questions]
    else:
        rng = random.Random(1)
        questions = [
            f"what is {base[i]['title']}?" for i in rng.sample(range(len(base)), min(len(base), options.queries))
        ]
    return (questions * (options.queries // max(1, len(questions)) + 1))[: options.queries]


# ---- one measured run, in its own process --------------------------------------------------


def _time_queries(search: Callable[[str], Any], queries: Sequence[str], warmup: int) -> dict[str, float]:
    for q in queries[:warmup]:
        search(q)
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q)
        times.append(1000 * (time.perf_counter() - start))
    return percentiles(times)


def _top20(questions: list, search_for: Callable[[str], Any], k: int) -> dict[str, float]:
    from .retrieval import score_questions, search_function, summarize

    out = {}
    for mode in MODES:
        records = score_questions(questions, search_function(search_for(mode)), [k], mode)
        out[mode] = summarize(records, [k])[f"top{k}"]
    return out


def _questions(qa: str | None, passages: Sequence[str], max_answer_passages: int) -> list:
    if not qa:
        return []
    from retrievers.datasets import load_dataset

    from .retrieval import filter_questions

    return filter_questions(load_dataset(f"nq-open:{qa}").questions, passages, max_answer_passages)


def run_ours(spec: dict) -> dict:
    """Ingest the corpus into a fresh store and time our retrievers and answer path (one process)."""
    from rag.documents.pipeline import ingest
    from rag.retrieval import open_collection, open_retriever
    from retrievers.filters import parse_where

    settings = Settings(**spec["settings"])
    started = time.perf_counter()
    report = ingest([spec["corpus"]], settings, collection=COLLECTION, progress=False)
    seconds = time.perf_counter() - started
    if report.failed:
        raise RagError(f"benchmark ingest failed: {report.failed}")
    result: dict[str, Any] = {
        "pipeline": "ours",
        "backend": spec["label"],
        "workers": settings.workers,
        "passages": report.total_passages,
        "ingest": {
            "seconds": round(seconds, 2),
            "passages_per_s": round(report.added / seconds, 1),
            "steps_s": {k: round(v, 2) for k, v in report.timings.items()},
        },
        "ingest_peak_rss_mb": peak_rss_mb(),
    }
    coll = open_collection(settings, COLLECTION)
    try:
        retrievers = {mode: open_retriever(settings, coll, mode) for mode in MODES}
        result["query_ms"] = {
            mode: _time_queries(lambda q, r=r: r.search(q, spec["k"]), spec["queries"], spec["warmup"])
            for mode, r in retrievers.items()
        }
        filters = parse_where([FILTER])
        hybrid = retrievers["hybrid"]
        result["filtered"] = {
            "filter": FILTER,
            "matching": len(coll.matching(filters)),
            "query_ms": _time_queries(
                lambda q: hybrid.search(q, spec["k"], filters=filters), spec["queries"], spec["warmup"]
            ),
        }
        if spec["full_corpus"] and spec["qa"]:
            questions = _questions(spec["qa"], [p.indexed_text for p in coll.passages()], spec["max_answer_passages"])
            result["questions"] = len(questions)
            scores = _top20(questions, retrievers.__getitem__, spec["k"])
            result["top20"] = scores["hybrid"]
            result["top20_by_mode"] = scores
        if spec["answers"]:
            result["answers"] = _answer_path(settings, spec["queries"][: spec["answers"]])
    finally:
        coll.close()
    result["store_mb"] = folder_mb(Path(settings.store))
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _answer_path(settings: Settings, questions: Sequence[str]) -> dict[str, Any]:
    """Medians over the questions, from the question (retrieval included): the first useful token (the first
    text streamed: the reader's lead by default, else the LLM's first token), the LLM's own first token, and
    the whole answer; then the generation's speed (completion tokens over the whole generation's time)."""
    from rag.assembly import build_engine

    engine = build_engine(settings.model_copy(update={"abstain_score": None}), COLLECTION)  # every answer generated
    engine.ask(questions[0])  # loads the models (and shows the local model its fixed prompt beginning once)
    useful, llm_first, whole, rates, prompt_tokens = [], [], [], [], []
    for question in questions:
        started = time.perf_counter()
        stream = engine.stream(question)
        pieces = iter(stream)
        if next(pieces, None) is None:
            continue
        useful.append(1000 * (time.perf_counter() - started))
        for _ in pieces:
            pass
        answer = stream.finish()
        whole.append(1000 * (time.perf_counter() - started))
        timings = answer.timings
        if "first_token_ms" in timings:  # after the prompt was sent: add what came before generation
            before = timings["total_ms"] - timings.get("generation_ms", 0.0)
            llm_first.append(before + timings["first_token_ms"])
        tokens = answer.usage.get("completion_tokens", 0)
        prompt_tokens.append(answer.usage.get("prompt_tokens", 0))
        # over the whole generation, reading the prompt included: the first token streamed comes when the
        # repetition guard lets a sentence through, so the time after it would overstate the decoding speed
        generation_s = timings.get("generation_ms", 0.0) / 1000
        if tokens > 0 and generation_s > 0:
            rates.append(tokens / generation_s)

    def median(values: list[float], digits: int = 1) -> float | None:
        return round(statistics.median(values), digits) if values else None

    return {
        "first_useful_ms": median(useful),
        "ttft_ms": median(llm_first),
        "answer_ms": median(whole),
        "tokens_per_s": median(rates),
        "prompt_tokens": round(statistics.median(prompt_tokens)) if prompt_tokens else None,
        "model": engine.llm.model,
        "lead": bool(engine.lead),
    }


def run_llamaindex(spec: dict) -> dict:
    """Time the stock LlamaIndex pipeline on the passages and vectors of one of our stores (one process).

    Its question encoder is sentence-transformers fp32, as LlamaIndex's own HuggingFace embedding
    would run it; the queries are then timed again with our fastest encoder plugged into the same
    pipeline, so the pipelines themselves are compared too.
    """
    from retrievers.encoders import load_encoder

    from .baseline import EncoderEmbedding, StockPipeline

    settings = Settings(**spec["settings"])
    pipeline = StockPipeline.from_collection(
        settings, COLLECTION, Path(spec["work"]) / "llamaindex", k=spec["k"], backend="torch"
    )
    result: dict[str, Any] = {
        "pipeline": "llamaindex",
        "backend": "torch",
        "passages": pipeline.count,
        "build_s": round(pipeline.build_seconds, 2),
    }
    result["query_ms"] = _time_pipeline(pipeline, spec)
    if spec["full_corpus"] and spec["qa"]:
        questions = _questions(spec["qa"], pipeline.texts, spec["max_answer_passages"])
        scores = _top20(questions, pipeline.retriever, spec["k"])
        result["top20"] = scores["hybrid"]
        result["top20_by_mode"] = scores
    fast = spec["fast_backend"]
    if fast != "torch":
        pipeline.set_query_encoder(
            EncoderEmbedding(load_encoder(pipeline.model, backend=fast, cache_dir=settings.cache_dir))
        )
        result["same_encoder"] = {"backend": fast, "query_ms": _time_pipeline(pipeline, spec)}
    result["store_mb"] = folder_mb(Path(spec["work"]) / "llamaindex")
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def _time_pipeline(pipeline: Any, spec: dict) -> dict:
    return {
        mode: _time_queries(lambda q, m=mode: pipeline.retriever(m).retrieve(q), spec["queries"], spec["warmup"])
        for mode in MODES
    }


def _export(spec: dict) -> dict:
    from retrievers.encoders import load_encoder

    settings = Settings(**spec["settings"])
    load_encoder(settings.encoder, **settings.encoder_options())
    return {}


def split_backend(spec: str) -> tuple[str, int]:
    """`"torch-bf16:2"` as `("torch-bf16", 2)`: an encoder backend and its worker processes (default 1)."""
    name, _, workers = spec.partition(":")
    return name, int(workers) if workers else 1


def _spec(
    options: BenchOptions,
    fields: dict,
    store: Path,
    backend: str,
    corpus: Path,
    queries: list[str],
    full_corpus: bool,
    answers: int,
) -> dict:
    name, workers = split_backend(backend)
    return {
        "settings": {**fields, "store": str(store), "backend": name, "workers": workers, "collection": COLLECTION},
        "label": backend,
        "corpus": str(corpus),
        "queries": queries,
        "warmup": options.warmup,
        "k": options.k,
        "qa": options.qa,
        "max_answer_passages": options.max_answer_passages,
        "full_corpus": full_corpus,
        "answers": answers,
    }


def _in_fresh_process(fn: Callable[[dict], dict], spec: dict) -> dict:
    """Each run in its own process, so peak RSS and warm caches belong to that run alone."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, spec).result()


# ---- the whole benchmark -------------------------------------------------------------------


# The settings every measured run shares with the caller's (the store, backend and collection are the run's own).
_SHARED_SETTINGS = {
    "encoder", "batch_size", "cache_dir", "model", "api_base", "context_k", "max_tokens", "fusion", "candidates",
    "rrf_k", "dense_weight", "normalization", "llm_timeout",
}  # fmt: skip


def _corpus_notes(options: BenchOptions, base: int) -> list[str]:
    """What the report says of the corpora it was measured on."""
    notes = []
    if any(size > base for size in options.sizes):
        notes.append(
            f"corpora above {base} passages are the built-in corpus followed by perturbed "
            "copies of it (about one word in ten dropped, titles marked 'variant N')"
        )
    if any(size < base for size in options.sizes):
        notes.append("corpora below the full built-in corpus are seeded samples of it")
    if options.qa:
        notes.append(
            f"top-20 is measured on the full built-in corpus only ({base} passages, the nq-vital "
            "benchmark); timed queries are the question file's"
        )
    return notes


def _export_models(options: BenchOptions, fields: dict) -> list[str]:
    """Export each ONNX backend's model once, untimed (a one-off cost, not ingest throughput)."""
    notes = []
    for backend in dict.fromkeys(split_backend(b)[0] for b in options.backends):
        if backend.startswith("onnx"):
            started = time.perf_counter()
            _in_fresh_process(_export, {"settings": {**fields, "backend": backend}})
            notes.append(
                f"{backend}: the ONNX export was made (or found cached) before timing, in "
                f"{time.perf_counter() - started:.1f} s"
            )
    return notes


def run_bench(settings: Settings, options: BenchOptions, log: Callable[[str], None] = lambda line: None) -> BenchReport:
    """Run every (size, backend) and the LlamaIndex baseline; each in a fresh process and store."""
    base = builtin_records()
    report = BenchReport(
        options={
            **{k: v for k, v in vars(options).items()},
            "cpus": os.cpu_count(),
            "cpu": cpu_name(),
            "cpu_features": cpu_features(),
            "machine": platform.machine(),
            "python": platform.python_version(),
        }
    )
    report.notes += _corpus_notes(options, len(base))
    queries = timing_queries(options, base)
    work = Path(options.work_dir) if options.work_dir else Path(tempfile.mkdtemp(prefix="rag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    headline = headline_size(options.sizes)
    fields = {k: v for k, v in settings.model_dump(include=_SHARED_SETTINGS).items() if v is not None}
    fast = options.backends[-1]
    report.notes += _export_models(options, fields)
    try:
        for size in options.sizes:
            corpus = write_corpus(corpus_records(size, base), work / f"corpus-{size}.jsonl")
            stores: dict[str, Path] = {}
            for backend in options.backends:
                stores[backend] = work / f"store-{size}-{backend}"
                shutil.rmtree(stores[backend], ignore_errors=True)
                spec = _spec(
                    options,
                    fields,
                    stores[backend],
                    backend,
                    corpus,
                    queries,
                    size == len(base),
                    answers=options.answers if size == headline and backend == fast else 0,
                )
                log(f"{size} passages, {backend}: ingest and queries ...")
                report.runs.append(_in_fresh_process(run_ours, spec))
            if options.baseline:
                # The stock pipeline gets sentence-transformers fp32 vectors when that backend was measured.
                source = "torch" if "torch" in stores else fast
                spec = _spec(options, fields, stores[source], source, corpus, queries, size == len(base), answers=0)
                spec.update(work=str(work / f"baseline-{size}"), fast_backend=split_backend(fast)[0])
                log(f"{size} passages: stock LlamaIndex pipeline ...")
                report.runs.append(_in_fresh_process(run_llamaindex, spec))
                shutil.rmtree(work / f"baseline-{size}", ignore_errors=True)
            for store in stores.values():
                shutil.rmtree(store, ignore_errors=True)
    finally:
        if not options.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    return report
