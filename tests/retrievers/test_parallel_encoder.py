"""Passages encoded by worker processes: the same vectors, in the same order, and the workers end with the work."""

import json

import numpy as np
import pytest

from retrievers.encoders import DEFAULT_MODEL, load_encoder, opened_encoder
from retrievers.encoders.parallel import ParallelEncoder
from retrievers.errors import ModelNotFound

from ..rag.conftest import run

pytestmark = pytest.mark.slow

TEXTS = [
    f"Passage {i} is about {topic}." * (1 + i % 4)
    for i, topic in enumerate(["rivers", "mountains", "planets", "painters", "engines", "treaties", "glaciers"] * 3)
]


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_workers_give_the_vectors_one_process_gives_in_the_same_order(backend, tmp_path):
    alone = load_encoder(DEFAULT_MODEL, backend=backend, cache_dir=tmp_path)
    with opened_encoder(DEFAULT_MODEL, backend=backend, cache_dir=tmp_path, workers=2) as parallel:
        assert isinstance(parallel, ParallelEncoder) and parallel.threads >= 1
        assert parallel.name == alone.name and parallel.dimension == alone.dimension
        got = parallel.encode_passage(TEXTS)
        assert parallel.encode_passage([]).shape == (0, alone.dimension)
        question = parallel.encode_query(["Which planet is red?"])
        processes = [p for p in parallel._pool._processes.values()]
    reference = alone.encode_passage(TEXTS)
    if backend == "torch":
        assert np.abs(got - reference).max() < 1e-5
    else:  # int8 scales activations per batch, and the workers' batches differ: close, and in the same order
        assert (got * reference).sum(axis=1).min() > 0.98
        assert (np.argmax(got @ reference.T, axis=1) == np.arange(len(TEXTS))).all()
    assert np.allclose(question, alone.encode_query(["Which planet is red?"]), atol=1e-5)
    assert processes and not any(p.is_alive() for p in processes)  # closed with the block


def test_a_missing_model_fails_before_any_worker_starts():
    with pytest.raises(ModelNotFound, match="never downloaded"):
        load_encoder("/no/such/model", workers=2)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_ingest_with_two_workers_searches_like_one(docs, tmp_path, capsys, backend):
    for name, workers in (("one", "1"), ("two", "2")):
        code, out, _ = run(
            capsys,
            "ingest",
            str(docs),
            "--store",
            str(tmp_path / name),
            "--workers",
            workers,
            "--backend",
            backend,
            "--no-progress",
        )
        assert code == 0 and "5 added" in out
    hits = {}
    for name in ("one", "two"):
        code, out, _ = run(
            capsys,
            "search",
            "Which planet is red?",
            "--store",
            str(tmp_path / name),
            "--mode",
            "dense",
            "--backend",
            backend,
            "--json",
        )
        hits[name] = [(h["id"], round(h["score"], 5)) for h in json.loads(out)]
    if backend == "torch":
        assert hits["one"] == hits["two"]
    else:  # int8's dynamic quantisation scales activations per batch, and two workers batch passages otherwise
        assert [pid for pid, _ in hits["one"]] == [pid for pid, _ in hits["two"]]
        assert max(abs(a - b) for (_, a), (_, b) in zip(hits["one"], hits["two"])) < 0.02
