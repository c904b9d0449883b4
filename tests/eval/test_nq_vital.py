import json

import pytest

from eval import Question, normalize, read_nq_open, select, top_k_accuracy
from eval.nq_vital import main

PASSAGES = [
    "Paris is the capital of France.",
    "The Nile is in Africa.",
    "Café au lait is coffee with milk.",
    "Berlin is in Germany.",
    "Germany borders France.",
]


def test_normalisation_follows_the_nq_vital_rules():
    assert normalize("Café, AU-lait!") == " cafe au lait "
    assert normalize("  ") == "  "


def test_select_keeps_answers_found_in_one_to_n_passages():
    qs = [
        Question("q1", [normalize("Paris")]),
        Question("q2", [normalize("Tokyo")]),
        Question("q3", [normalize("France")]),
        Question("q4", [normalize("cafe")]),
    ]
    kept = [q.question for q in select(qs, PASSAGES, max_answer_passages=1)]
    assert kept == ["q1", "q4"]  # Tokyo nowhere, France in two passages
    assert [q.question for q in select(qs, PASSAGES, None)] == ["q1", "q3", "q4"]


def test_top_k_accuracy_is_hand_computable():
    qs = [Question("a", [normalize("Paris")]), Question("b", [normalize("Nile")]), Question("c", [normalize("x")])]
    ranked = {"a": [PASSAGES[0], PASSAGES[1]], "b": [PASSAGES[0], PASSAGES[1]], "c": PASSAGES[:2]}
    acc = top_k_accuracy(qs, lambda q, k: ranked[q][:k], ks=(1, 2))
    assert acc == {"top1": pytest.approx(100 / 3, abs=0.05), "top2": pytest.approx(200 / 3, abs=0.05)}


def test_reader_names_the_line_of_a_bad_record(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "q", "answer": ["a"]}\n{"question": "q2"}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_nq_open(str(path))


def test_command_runs_on_a_tiny_collection(ingested, tmp_path, capsys):
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"question": "Which river carries the most water?", "answer": ["Amazon"]})
        + "\n"
        + json.dumps({"question": "Who designed the tower in Paris?", "answer": ["Gustave Eiffel"]})
        + "\n"
    )
    code = main(["--qa", str(qa), "--collection", "default", "--store", str(ingested.store), "-k", "1,5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["n_questions"] == 2
    assert set(out["results"]) == {"bm25", "dense", "hybrid-rrf", "hybrid-linear"}
    assert all(row["top5"] == 100.0 for row in out["results"].values())
