"""`rag encode` shards and `rag ingest --vectors`: encoding as parallel batch jobs, then one cheap ingest."""

import json
import subprocess
import sys

import numpy as np
import pytest

from retrievers.encoders.precomputed import finished_shards, shard_of, write_shard

from .conftest import run


def _dense_hits(capsys, store, question):
    code, out, _ = run(capsys, "search", question, "--store", store, "--mode", "dense", "-k", "5", "--json")
    assert code == 0
    return [(h["id"], round(h["score"], 5)) for h in json.loads(out)]


@pytest.mark.slow
def test_shard_jobs_in_parallel_processes_then_an_ingest_that_encodes_nothing(docs, tmp_path, capsys, monkeypatch):
    # fp32, whose vectors do not depend on what else is in a batch, so sharded and plain ingests agree exactly
    # (int8 ones move a little with their batch: tests/retrievers/test_parallel_encoder.py)
    monkeypatch.setenv("RAG_BACKEND", "torch")
    vectors = tmp_path / "vectors"
    jobs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rag.cli",
                "encode",
                str(docs),
                "--out",
                str(vectors),
                "--shard",
                f"{i}/2",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    reports = []
    for job in jobs:
        out, err = job.communicate(timeout=300)
        assert job.returncode == 0, err
        reports.append(json.loads(out))
    assert [r["passages"] for r in reports] == [5, 5]
    assert sum(r["in_shard"] for r in reports) == 5 and all(r["encoded"] == r["in_shard"] for r in reports)
    assert len(finished_shards(vectors)) == 2

    import rag.documents.pipeline

    def no_encoder(*args, **kwargs):
        raise AssertionError("every vector should come from the shards")

    with monkeypatch.context() as patch:
        patch.setattr(rag.documents.pipeline, "load_encoder", no_encoder)
        code, out, _ = run(
            capsys,
            "ingest",
            str(docs),
            "--store",
            str(tmp_path / "from-shards"),
            "--vectors",
            str(vectors),
            "--json",
            "--no-progress",
        )
    assert code == 0
    report = json.loads(out)
    assert report["added"] == 5 and report["vectors"] == {"shards": 2, "reused": 5, "encoded": 0}

    code, _, _ = run(capsys, "ingest", str(docs), "--store", str(tmp_path / "plain"), "--no-progress")
    assert code == 0
    for question in ("Where is the Eiffel Tower?", "Which planet is red?", "What do cats catch?"):
        assert _dense_hits(capsys, str(tmp_path / "from-shards"), question) == _dense_hits(
            capsys, str(tmp_path / "plain"), question
        )


def _shard_holding(docs, want) -> tuple[int, int, int]:
    """A shard I/N whose number of the docs' passages satisfies `want`, with that number.

    Passage ids hash the source path, so which shard holds what depends on the temporary folder:
    with 5 passages, shard 0 of 2 is empty or full one time in 16. Pick a split from the real ids.
    """
    from rag.config import Settings
    from rag.documents.loaders import discover, load
    from rag.documents.pipeline import passages_of

    found = discover([str(docs)])
    ids = [p.id for item in found.inputs for p in passages_of(item, load(item), Settings())]
    assert len(ids) == 5
    for count in range(2, 50):
        for index in range(count):
            held = sum(shard_of(pid, count) == index for pid in ids)
            if want(held):
                return index, count, held
    raise AssertionError("no shard split gives such a shard")


def _partial_shard(docs) -> tuple[int, int, int]:
    """A shard that holds some but not all of the docs' passages."""
    return _shard_holding(docs, lambda held: 0 < held < 5)


def test_a_shard_that_holds_no_passage_is_written_empty_and_counts_as_finished(docs, tmp_path, capsys):
    vectors = tmp_path / "vectors"
    index, count, _ = _shard_holding(docs, lambda held: held == 0)
    spec = f"{index}/{count}"
    code, out, _ = run(capsys, "encode", str(docs), "--out", str(vectors), "--shard", spec, "--json", "--no-progress")
    assert code == 0
    report = json.loads(out)
    assert report["passages"] == 5 and report["in_shard"] == 0 and report["encoded"] == 0
    [(folder, header)] = finished_shards(vectors)
    assert folder.name == f"shard-{index:05d}-of-{count:05d}" and header["passages"] == 0 and header["dimension"] == 384
    code, out, _ = run(capsys, "encode", str(docs), "--out", str(vectors), "--shard", spec, "--no-progress")
    assert code == 0 and "already encoded" in out
    code, out, _ = run(
        capsys, "ingest", str(docs), "--store", str(tmp_path / "store"), "--vectors", str(vectors), "--no-progress"
    )
    assert code == 0 and "vectors: 0 from 1 precomputed shards, 5 encoded here" in out


def test_passages_no_shard_holds_are_encoded_and_a_finished_shard_is_not_redone(docs, tmp_path, capsys):
    vectors = tmp_path / "vectors"
    index, count, held = _partial_shard(docs)
    spec = f"{index}/{count}"
    code, out, _ = run(capsys, "encode", str(docs), "--out", str(vectors), "--shard", spec, "--json", "--no-progress")
    assert code == 0
    first = json.loads(out)
    assert first["in_shard"] == held and first["encoded"] == held and first["passages"] == 5
    torn = vectors / f".shard-{(index + 1) % count:05d}-of-{count:05d}-x1y2"  # what a killed job leaves
    torn.mkdir()
    (torn / "keys.npy").write_bytes(b"torn")

    code, out, _ = run(capsys, "encode", str(docs), "--out", str(vectors), "--shard", spec, "--no-progress")
    assert code == 0 and "already encoded" in out

    code, out, _ = run(
        capsys, "ingest", str(docs), "--store", str(tmp_path / "store"), "--vectors", str(vectors), "--no-progress"
    )
    assert code == 0
    assert f"vectors: {first['in_shard']} from 1 precomputed shards, {5 - first['in_shard']} encoded here" in out
    code, out, _ = run(capsys, "search", "Where is the Eiffel Tower?", "--store", str(tmp_path / "store"), "--json")
    assert json.loads(out)[0]["title"] == "paris"


def test_the_shard_a_passage_falls_in_is_stable_and_even():
    ids = [f"passage-{i}" for i in range(4000)]
    assert [shard_of(pid, 4) for pid in ids[:5]] == [shard_of(pid, 4) for pid in ids[:5]]
    counts = np.bincount([shard_of(pid, 4) for pid in ids], minlength=4)
    assert counts.min() > 900 and all(shard_of(pid, 1) == 0 for pid in ids[:50])


def test_shards_of_another_model_are_refused_and_nothing_is_created(docs, tmp_path, capsys):
    vectors = tmp_path / "vectors"
    write_shard(
        vectors,
        0,
        1,
        ["some text"],
        np.ones((1, 384), dtype=np.float32),
        {"model": "some-other-model", "model_fingerprint": "0"},
    )
    store = tmp_path / "store"
    code, out, err = run(capsys, "ingest", str(docs), "--store", str(store), "--vectors", str(vectors))
    assert code == 1 and "error:" in err and "some-other-model" in err and "Traceback" not in err
    code, out, _ = run(capsys, "collections", "--store", str(store))
    assert "default" not in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["encode", "DOCS", "--out", "OUT", "--shard", "3/2"], "between 0 and N-1"),
        (["encode", "DOCS", "--out", "OUT", "--shard", "half"], "--shard takes I/N"),
        (["ingest", "DOCS", "--vectors", "OUT"], "no finished vector shards"),
    ],
)
def test_bad_shard_arguments_are_one_error_line(docs, tmp_path, capsys, argv, message):
    argv = [str(docs) if a == "DOCS" else str(tmp_path / "out") if a == "OUT" else a for a in argv]
    if argv[0] == "ingest":
        argv += ["--store", str(tmp_path / "store")]
    code, _, err = run(capsys, *argv)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
