"""kill -9 at random points of an ingest: the store opens, its parts agree, and a rerun completes the work."""

import random
import signal
import subprocess
import sys
import time

import pytest

from retrievers.errors import CollectionNotFound
from retrievers.stores import Collection

from .corpora import write_records

pytestmark = pytest.mark.slow


def ingest_command(docs, store):
    return [sys.executable, "-m", "rag.cli", "ingest", str(docs), "--store", str(store), "--no-progress"]


def vectors_in_chroma(store):
    """How many vectors an ingest running in another process has written so far."""
    try:
        coll = Collection("default", store)
    except CollectionNotFound:
        return 0
    try:
        return coll.dense(create=True).count()
    finally:
        coll.close()


def check_in_step(store):
    """What the next use of the collection sees: it opens, finishes any interrupted update, and agrees."""
    try:
        coll = Collection("default", store)
    except CollectionNotFound:
        return None  # killed before the collection existed
    try:
        coll.recover()
        disagreement = coll.consistency()
        assert all(not ids for ids in disagreement.values()), {k: len(v) for k, v in disagreement.items()}
        ids = coll.ids()
        assert len(ids) == len(set(ids)) == coll.dense().count()
        return set(ids)
    finally:
        coll.close()


def test_ingest_killed_at_random_points_recovers_and_completes_without_duplicates(tmp_path):
    from retrievers.stores import vectors as vectors_module

    assert vectors_module.ENCODE_CHUNK < 1200  # several Chroma writes per ingest, so kills can land between them
    docs = write_records(tmp_path / "docs")  # 1,200 records: three encoder chunks
    started = time.monotonic()
    reference = subprocess.run(
        ingest_command(docs, tmp_path / "reference"), capture_output=True, text=True, timeout=600
    )
    duration = time.monotonic() - started
    assert reference.returncode == 0, reference.stderr
    expected = check_in_step(tmp_path / "reference")
    assert len(expected) == 1200

    store = tmp_path / "store"
    rng = random.Random(7)
    # Two kills right after a Chroma write (the pending list and some vectors written, the table not yet),
    # three at random times of the run.
    triggers = [
        ("vectors", 1),
        ("time", rng.uniform(0.3, 0.95)),
        ("vectors", 513),
        ("time", rng.uniform(0.3, 0.95)),
        ("time", rng.uniform(0.3, 0.95)),
    ]
    partial = []
    for kind, value in triggers:
        job = subprocess.Popen(ingest_command(docs, store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kind == "time":
            time.sleep(value * duration)
        else:
            deadline = time.monotonic() + 600
            while job.poll() is None and vectors_in_chroma(store) < value and time.monotonic() < deadline:
                time.sleep(0.05)
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=60)
        present = check_in_step(store)
        if present is not None:
            assert present <= expected  # nothing that should not be there, and no duplicate
        partial.append(present is not None and 0 < len(present) < len(expected))
    assert partial[0], "the kill after the first Chroma write must leave part of the work done (and recovered)"

    rerun = subprocess.run(ingest_command(docs, store), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert check_in_step(store) == expected
    again = subprocess.run(ingest_command(docs, store), capture_output=True, text=True, timeout=600)
    assert "0 added" in again.stdout and check_in_step(store) == expected


def rows_in_table(store):
    import sqlite3

    path = store / "collections" / "default" / "passages.sqlite"
    if not path.is_file():
        return 0
    db = sqlite3.connect(path, timeout=30)
    try:
        return db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        db.close()


def test_ingest_killed_between_its_batches_has_bm25_rebuilt_and_completes(tmp_path):
    """RAG_INGEST_BATCH=300 writes the four 300-record files one by one, BM25 only at the end: a kill
    once the first file is in the table leaves BM25 behind it, and the next use rebuilds it."""
    import os

    from retrievers.stores import BM25Index

    docs = write_records(tmp_path / "docs")
    store = tmp_path / "store"
    env = {**os.environ, "RAG_INGEST_BATCH": "300"}
    job = subprocess.Popen(ingest_command(docs, store), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while job.poll() is None and rows_in_table(store) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL, job.stderr.read().decode()[-2000:]
    written = rows_in_table(store)
    assert 300 <= written < 1200
    coll = Collection("default", store)
    try:
        assert BM25Index.saved_generation(coll.dir / "bm25") != coll.generation()  # what the kill left
    finally:
        coll.close()
    present = check_in_step(store)  # recovers: BM25 rebuilt from the table, all three parts agree
    assert present is not None and len(present) >= 300

    rerun = subprocess.run(ingest_command(docs, store), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    final = check_in_step(store)
    assert len(final) == 1200 and present <= final
