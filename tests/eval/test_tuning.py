"""`rag tune` chooses a collection's fusion on labelled questions, never below the best single retriever there,
saves it, and searches and answers then use it unless a retrieval setting is given."""

from __future__ import annotations

import json

from eval.tuning import WEIGHTS, tune_fusion
from rag.retrieval import open_collection, open_retriever, tuned_settings
from retrievers import BM25Retriever, HybridRetriever
from tests.conftest import run

QUESTIONS = [
    {"question": "Which tower did Gustave Eiffel build?", "answer": ["Eiffel Tower"]},
    {"question": "What makes Mars look red?", "answer": ["iron oxide"]},
    {"question": "Which river carries the most water?", "answer": ["Amazon"]},
    {"question": "What do cats like to chase?", "answer": ["mice"]},
]


def write_qa(path):
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS), encoding="utf-8")
    return path


def test_tune_scores_every_setting_and_saves_one_that_never_loses(ingested, tmp_path):
    report = tune_fusion(ingested, str(write_qa(tmp_path / "qa.jsonl")), ks=(1, 2), max_answer_passages=None)
    assert report.questions >= 3 and report.saved
    labels = [row["label"] for row in report.rows]
    assert labels[:2] == ["bm25", "dense"] and len(labels) == 2 + sum(len(w) for w in WEIGHTS.values())
    singles = report.rows[:2]
    chosen = next(row for row in report.rows if row["label"] == report.chosen["label"])
    for k in (1, 2):
        assert chosen[f"top{k}"] >= max(row[f"top{k}"] for row in singles)
    coll = open_collection(ingested)
    try:
        assert coll.tuned["label"] == report.chosen["label"] and coll.tuned["scores"]
        effective = tuned_settings(ingested, coll)
        assert (effective.mode, effective.fusion, effective.dense_weight) == (
            report.chosen["mode"],
            report.chosen["fusion"] or ingested.fusion,
            report.chosen["dense_weight"] if report.chosen["dense_weight"] is not None else ingested.dense_weight,
        )
    finally:
        coll.close()


def test_a_tuned_collection_is_searched_as_tuned_unless_a_setting_says_otherwise(ingested):
    coll = open_collection(ingested)
    try:
        coll.set_tuned(
            {"label": "hybrid-rsf w=3", "mode": "hybrid", "fusion": "rsf", "dense_weight": 3.0, "normalization": None}
        )
        retriever = open_retriever(ingested, coll)
        assert isinstance(retriever, HybridRetriever) and retriever.fusion.value == "rsf"
        assert retriever.dense_weight == 3.0
        explicit = open_retriever(ingested.model_copy(update={"fusion": "rrf"}), coll)
        assert explicit.fusion.value == "rrf" and explicit.dense_weight == 2.0  # the tuned values go as a whole
        coll.set_tuned({"label": "bm25", "mode": "bm25", "fusion": None, "dense_weight": None, "normalization": None})
        assert isinstance(open_retriever(ingested, coll), BM25Retriever)
        coll.set_tuned({"label": "broken", "mode": "hybrid", "fusion": "nonsense"})  # a tampered record
        assert open_retriever(ingested, coll).fusion.value == ingested.fusion
    finally:
        coll.close()


def test_tune_on_the_command_line(store, tmp_path, capsys):
    qa = str(write_qa(tmp_path / "qa.jsonl"))
    code, out, err = run(
        capsys, "tune", "--qa", qa, "--store", store, "-k", "1,2", "--max-answer-passages", "0", "--dry-run"
    )
    assert code == 0, err
    assert "**chosen**" in out and "(--dry-run)" in out
    code, out, _ = run(capsys, "tune", "--qa", qa, "--store", store, "-k", "1,2", "--json")
    assert code == 0 and json.loads(out)["saved"] is True
    code, _, err = run(capsys, "tune", "--qa", str(tmp_path / "missing.jsonl"), "--store", store)
    assert code == 1 and "no such file" in err and "Traceback" not in err
    code, _, err = run(capsys, "tune", "--qa", qa, "--store", store, "-k", "x")
    assert code == 2 and "-k takes" in err
