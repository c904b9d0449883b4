"""`rag train`, `rag reindex`, `rag search --encoder` and `rag eval retrieval` on the tiny document set."""

import json

import pytest

from .conftest import run

QA = [
    {"question": "Who designed the Eiffel Tower?", "answer": ["Gustave Eiffel"]},
    {"question": "Which river carries the most water?", "answer": ["Amazon"]},
    {"question": "Which planet is called the red planet?", "answer": ["Mars"]},
    {"question": "What orbits Earth every 27 days?", "answer": ["the Moon"]},
    {"question": "Which pet is kept for catching mice?", "answer": ["cat"]},
    {"question": "What is the capital of Peru?", "answer": ["Lima"]},
]


@pytest.fixture
def qa(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in QA) + "\n", encoding="utf-8")
    return path


TRAIN = ("--epochs", "1", "--batch-size", "2", "--no-progress")


@pytest.mark.slow
def test_train_reindex_search_and_evaluate_the_fine_tuned_model(store, qa, tmp_path, capsys):
    out_dir = tmp_path / "dpr"
    code, out, err = run(capsys, "train", "--qa", str(qa), "--store", store, "--out", str(out_dir), *TRAIN, "--json")
    record = json.loads(out)
    assert code == 0, err
    assert record["data"]["report"]["examples"] == 5 and record["data"]["report"]["no_positive"] == 1
    assert record["data"]["collection"] == "default" and len(record["data"]["sha256"]) == 64
    # BM25 and dense negatives by default (2), but five passages leave no duplicate-free batch with any:
    # one passage is the top BM25 negative of nearly every question. Training goes on with in-batch negatives.
    assert record["config"]["hard_negatives"] == 2 and record["data"]["negatives_per_example"] == 0
    # Five passages for five questions: the no-duplicates sampler forms fewer batches than 5 // 2.
    assert 1 <= record["steps"] <= 2 and (out_dir / "rag_training.json").is_file()

    # Searching with the new encoder needs the re-encoded copy first; the error says how to make it.
    code, _, err = run(capsys, "search", "red planet", "--store", store, "--encoder", str(out_dir))
    assert code == 1 and f"rag reindex default --encoder {out_dir}" in err
    code, out, _ = run(capsys, "reindex", "default", "--encoder", str(out_dir), "--store", store, "--json")
    assert code == 0 and json.loads(out)["collection"] == "default.dpr" and json.loads(out)["added"] == 5
    code, out, _ = run(capsys, "reindex", "default", "--encoder", str(out_dir), "--store", store, "--json")
    assert json.loads(out)["added"] == 0 and json.loads(out)["unchanged"] == 5  # incremental
    code, out, _ = run(capsys, "search", "red planet", "--store", store, "--encoder", str(out_dir), "--json")
    assert code == 0 and json.loads(out)[0]["title"] == "Mars"
    code, out, _ = run(capsys, "collections", "--store", store, "--json")
    models = {row["name"]: row["model"] for row in json.loads(out)}
    assert models == {"default": "all-MiniLM-L6-v2", "default.dpr": str(out_dir.resolve())}

    code, out, _ = run(
        capsys,
        "eval",
        "retrieval",
        "--qa",
        str(qa),
        "--store",
        store,
        "--encoder",
        "all-MiniLM-L6-v2",
        "--encoder",
        str(out_dir),
        "-k",
        "1,5",
        "--json",
    )
    report = json.loads(out)
    assert code == 0 and report["n_questions"] == 5  # Lima is nowhere; the other answers are in one passage each
    labels = [row["retriever"] for row in report["rows"]]
    assert labels == [
        "bm25",
        "dense (all-MiniLM-L6-v2)",
        "hybrid-rrf (all-MiniLM-L6-v2)",
        "hybrid-linear (all-MiniLM-L6-v2)",
        "dense (dpr)",
        "hybrid-rrf (dpr)",
        "hybrid-linear (dpr)",
    ]
    assert all(row["top5"] == 100.0 for row in report["rows"])
    assert {row["collection"] for row in report["rows"]} == {"default", "default.dpr"}


@pytest.mark.slow
def test_train_refuses_an_existing_output_and_resumes_only_what_was_interrupted(store, qa, tmp_path, capsys):
    out_dir = tmp_path / "dpr"
    assert run(capsys, "train", "--qa", str(qa), "--store", store, "--out", str(out_dir), *TRAIN)[0] == 0
    code, out, _ = run(capsys, "reindex", "default", "--encoder", str(out_dir), "--store", store, "--json")
    assert code == 0 and json.loads(out)["added"] == 5
    code, _, err = run(capsys, "train", "--qa", str(qa), "--store", store, "--out", str(out_dir), *TRAIN)
    assert code == 1 and "exists and is not empty" in err and "--overwrite" in err and err.count("\n") == 1
    code, out, err = run(
        capsys, "train", "--qa", str(qa), "--store", store, "--out", str(out_dir), *TRAIN, "--overwrite"
    )
    assert code == 0 and "saved shared encoders" in out and "next: rag reindex default" in out
    # Retrained in place: same directory, new weights. The copy is stale and is encoded again.
    code, out, _ = run(capsys, "reindex", "default", "--encoder", str(out_dir), "--store", store, "--json")
    report = json.loads(out)
    assert code == 0 and report["added"] == 5 and "the model changed" in report["warnings"][0]["warning"]
    code, _, err = run(capsys, "train", "--qa", str(qa), "--store", store, "--out", str(out_dir), *TRAIN, "--resume")
    assert code == 1 and "no interrupted training run" in err


def test_train_explains_bad_input_in_one_line(store, qa, tmp_path, capsys):
    code, _, err = run(capsys, "train", "--qa", str(tmp_path / "missing.jsonl"), "--store", store)
    assert code == 1 and "no such file" in err
    unrelated = tmp_path / "unrelated.jsonl"
    unrelated.write_text(
        json.dumps({"question": "capital of Peru?", "answer": ["Lima"]})
        + "\n"
        + json.dumps({"question": "capital of Chile?", "answer": ["Santiago"]})
        + "\n"
    )
    code, _, err = run(capsys, "train", "--qa", str(unrelated), "--store", store, "--out", str(tmp_path / "m"))
    assert code == 1 and "2 of 2 questions have no answer in the top 100 BM25 passages" in err
    assert not (tmp_path / "m").exists()
    # A validation file holding the training questions leaves nothing to train on (no leak into validation).
    code, _, err = run(
        capsys, "train", "--qa", str(qa), "--validation", str(qa), "--store", store, "--out", str(tmp_path / "m")
    )
    assert code == 1 and "only 0 usable training examples left after holding out the validation" in err
    code, _, err = run(capsys, "train", "--qa", str(qa), "--store", store, "--batch-size", "1")
    assert code == 1 and "batch-size must be at least 2" in err
    code, _, err = run(capsys, "train", "--qa", str(qa), "--store", str(tmp_path / "nothing"))
    assert code == 1 and "does not exist" in err
    code, _, err = run(capsys, "reindex", "default", "--encoder", "/no/model", "--store", store)
    assert code == 1 and "never downloaded" in err
    code, _, err = run(
        capsys, "reindex", "default", "--encoder", "all-MiniLM-L6-v2", "--into", "default", "--store", store
    )
    assert code == 1 and "--into" in err
    code, _, err = run(capsys, "eval", "retrieval", "--qa", str(tmp_path / "missing.jsonl"), "--store", store)
    assert code == 1 and "no such file" in err


@pytest.mark.slow
def test_ctrl_c_during_training_keeps_checkpoints_and_resume_finishes(store, qa, tmp_path, capsys, monkeypatch):
    from transformers import TrainerCallback

    import retrievers.training as training

    class CtrlC(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:  # after the checkpoint of step 2
                raise KeyboardInterrupt

    real_train = training.train
    monkeypatch.setattr(training, "train", lambda *a, **kw: real_train(*a, **kw, callbacks=[CtrlC()]))
    out_dir = tmp_path / "dpr"
    argv = (
        "train",
        "--qa",
        str(qa),
        "--store",
        store,
        "--out",
        str(out_dir),
        "--epochs",
        "4",
        "--batch-size",
        "2",
        "--no-progress",
    )
    code, _, err = run(capsys, *argv)
    assert code == 130 and "run the same command with --resume" in err and "Traceback" not in err
    assert list((out_dir / "checkpoints").glob("checkpoint-*")) and not (out_dir / "rag_training.json").exists()
    monkeypatch.setattr(training, "train", real_train)
    code, out, err = run(capsys, *argv, "--resume")
    assert code == 0, err
    assert "saved shared encoders" in out and (out_dir / "rag_training.json").is_file()
