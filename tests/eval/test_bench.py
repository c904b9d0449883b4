"""`rag bench`: the corpus it synthesises, its statistics, and a quick run end to end."""

import json

import pytest

from eval.bench import BenchReport
from eval.bench_corpus import corpus_records
from eval.measures import percentiles
from tests.conftest import run

BASE = [
    {"id": f"d{i}", "title": f"Title {i}", "text": f"Title {i}. " + " ".join(f"w{j}" for j in range(30))}
    for i in range(50)
]


def test_small_corpora_are_seeded_samples_and_large_ones_perturbed_copies():
    small = corpus_records(20, BASE)
    assert len(small) == 20 and small == corpus_records(20, BASE) and all(r in BASE for r in small)
    big = corpus_records(130, BASE)
    assert len(big) == 130 and big[:50] == BASE
    assert len({r["id"] for r in big}) == 130
    copy = big[50]
    assert copy["title"] == "Title 0 (variant 1)" and copy["text"] != BASE[0]["text"]
    assert 0 < len(copy["text"].split()) <= len(BASE[0]["text"].split()) + 2
    assert big[100]["title"] == "Title 0 (variant 2)"


def test_percentiles_are_nearest_rank():
    stats = percentiles([float(v) for v in range(1, 101)])
    assert (stats["p50"], stats["p95"], stats["p99"], stats["n"]) == (50.0, 95.0, 99.0, 100)
    assert percentiles([7.0])["p99"] == 7.0


def test_an_empty_report_has_no_headline():
    assert BenchReport(options={}).summary() == {}


@pytest.mark.slow
def test_quick_bench_runs_and_reports_every_figure(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run(
        capsys,
        "bench",
        "--quick",
        "--backends",
        "torch,onnx",
        "--queries",
        "8",
        "--work-dir",
        str(tmp_path / "bench"),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["passages"] == 200 and report["backend"] in ("torch", "onnx")
    assert set(report["query_p50_ms"]) == {"bm25", "dense", "hybrid"}
    assert all(v > 0 for v in report["query_p50_ms"].values())
    assert report["ingest_passages_per_s"] > 0 and report["llamaindex_query_p50_ms"] > 0
    assert report["speedup_vs_llamaindex"] > 0 and report["peak_rss_mb"] > 100 and report["store_mb"] > 0
    assert 0 < report["answer_first_useful_ms"] <= report["answer_answer_ms"]  # the reader's lead, by default
    assert report["answer_lead"] and 0 < report["answer_ttft_ms"] <= report["answer_answer_ms"]
    assert isinstance(report["options"]["cpu_features"], list) and report["options"]["cpu"]
    filtered = report["filtered_hybrid"]  # one topic: a fraction of the sample, timed like the rest
    assert filtered["filter"] == "topic=Geography" and 0 < filtered["matching"] < 200 and filtered["p50_ms"] > 0
    pipelines = [(r["pipeline"], r["backend"]) for r in report["runs"]]
    assert pipelines == [("ours", "torch"), ("ours", "onnx"), ("llamaindex", "torch")]
    assert report["speedup_vs_llamaindex_same_encoder"] > 0  # our onnx encoder timed inside LlamaIndex too
    steps = report["runs"][0]["ingest"]["steps_s"]
    assert {"parse", "encode", "store", "bm25"} <= set(steps)
    assert not list((tmp_path / "bench").glob("store-*"))  # stores are removed after each run


def test_bad_bench_arguments_are_refused_in_one_line(capsys):
    code, _, err = run(capsys, "bench", "--sizes", "ten")
    assert code == 1 and "--sizes" in err
    code, _, err = run(capsys, "bench", "--backends", "cuda")
    assert code == 1 and "unknown backend cuda" in err
    for spec in ("torch:0", "torch:two", "onnx-int8:-1"):
        code, _, err = run(capsys, "bench", "--backends", f"torch,{spec}")
        assert code == 1 and f"unknown backend {spec}" in err and ":WORKERS" in err


def test_a_backend_with_workers_is_split_into_its_name_and_processes():
    from eval.bench import split_backend

    assert split_backend("torch-bf16:2") == ("torch-bf16", 2) and split_backend("onnx-int8") == ("onnx-int8", 1)
