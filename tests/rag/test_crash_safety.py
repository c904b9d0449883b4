"""kill -9 at random points of an ingest: the store opens, its parts agree, and a rerun completes the work."""

import random
import signal
import subprocess
import sys
import time

import pytest

from retrievers.collection import Collection
from retrievers.errors import CollectionNotFound

from .corpora import write_records

pytestmark = pytest.mark.slow


def ingest_command(docs, store):
    return [sys.executable, "-m", "rag.cli", "ingest", str(docs), "--store", str(store), "--no-progress"]


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
    from retrievers import collection as collection_module

    assert collection_module.ENCODE_CHUNK < 1200  # several Chroma writes per ingest, so kills can land between them
    docs = write_records(tmp_path / "docs")  # 1,200 records: three encoder chunks
    started = time.monotonic()
    reference = subprocess.run(ingest_command(docs, tmp_path / "reference"), capture_output=True, text=True,
                               timeout=600)
    duration = time.monotonic() - started
    assert reference.returncode == 0, reference.stderr
    expected = check_in_step(tmp_path / "reference")
    assert len(expected) == 1200

    store = tmp_path / "store"
    rng = random.Random(7)
    seen_partial = 0
    for attempt in range(5):
        job = subprocess.Popen(ingest_command(docs, store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 0.95) * duration)
        job.send_signal(signal.SIGKILL)
        job.wait(timeout=60)
        present = check_in_step(store)
        if present is not None:
            assert present <= expected  # nothing that should not be there, and no duplicate
            seen_partial += 0 < len(present) < len(expected)
    assert seen_partial, "no kill landed mid-ingest: the timing assumptions of this test no longer hold"

    rerun = subprocess.run(ingest_command(docs, store), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert check_in_step(store) == expected
    again = subprocess.run(ingest_command(docs, store), capture_output=True, text=True, timeout=600)
    assert "0 added" in again.stdout and check_in_step(store) == expected
