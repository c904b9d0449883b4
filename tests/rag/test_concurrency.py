"""Queries in threads and in other processes while an ingest writes: no errors, no short or torn results."""

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.config import Settings
from rag.documents.pipeline import ingest
from retrievers import HybridRetriever
from retrievers.stores import Collection

from .corpora import WORDS, write_records

pytestmark = pytest.mark.slow
LOOP = str(Path(__file__).with_name("query_loop.py"))


def query_forever(retriever, rng, stop, seen, problems):
    while not stop.is_set():
        try:
            hits = retriever.search(" ".join(rng.sample(WORDS, 3)))
            if len(hits) < 10:
                problems.append(f"short result: {len(hits)}")
            for passage, _ in hits:
                seen[passage.id] = passage.text
        except Exception as exc:  # noqa: BLE001 (any failure is the finding)
            problems.append(repr(exc))


def test_threads_and_processes_query_while_an_ingest_runs(tmp_path):
    store = tmp_path / "store"
    ingest(
        [str(write_records(tmp_path / "first", files=1, records=200, seed=1, prefix="a"))],
        Settings(store=store),
        progress=False,
    )
    with_first = Collection("default", store)
    first = set(with_first.ids())
    with_first.close()
    second = write_records(tmp_path / "second", files=4, records=300, seed=2, prefix="b")
    stop_file = tmp_path / "stop"

    readers = [
        subprocess.Popen(
            [sys.executable, LOOP, str(store), str(stop_file), str(seed), ",".join(WORDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    deadline = time.monotonic() + 120
    while not all(Path(f"{stop_file}.ready{seed}").exists() for seed in (1, 2)):
        assert time.monotonic() < deadline and all(r.poll() is None for r in readers), "a reader failed to start"
        time.sleep(0.2)

    shared = HybridRetriever.from_defaults("default", store_dir=store, similarity_top_k=10)  # as rag serve shares one
    own = HybridRetriever.from_defaults("default", store_dir=store, similarity_top_k=10)
    stop, seen, problems = threading.Event(), {}, []
    threads = [
        threading.Thread(target=query_forever, args=(r, random.Random(i), stop, seen, problems))
        for i, r in enumerate([shared, shared, shared, shared, own])
    ]
    for t in threads:
        t.start()
    writer = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(second), "--store", str(store), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    time.sleep(2)  # and a little after it, when the new passages are in every index
    stop.set()
    stop_file.touch()
    for t in threads:
        t.join(timeout=60)
    outputs = []
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        outputs.append(json.loads(out))

    assert writer.returncode == 0 and "1200 added" in writer.stdout, writer.stderr
    assert problems == []
    for output in outputs:
        assert output["errors"] == [] and output["short"] == 0 and output["queries"] > 20
        seen.update(output["seen"])
    coll = Collection("default", store)
    try:
        assert all(not ids for ids in coll.consistency().values())
        final = {p.id: p.text for p in coll.passages()}
    finally:
        coll.close()
    assert len(final) == 1400
    assert {pid: final.get(pid) for pid in seen} == seen  # every passage read was whole and is still there
    new = set(final) - first
    assert seen.keys() & new and all(o["seen"].keys() & new for o in outputs)  # every reader saw the ingest land
