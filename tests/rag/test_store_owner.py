"""While `rag serve` runs it is its store's only writer: the CLI's writes refuse and point at its API."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rag.store_owner import RECORD, StoreBusy, owning, running_server
from tests.conftest import run


@pytest.fixture
def served(tmp_path):
    """A store owned by a live process that is not this one (a sleeping child stands in for the server)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    store = tmp_path / "store"
    store.mkdir()
    (store / RECORD).write_text(json.dumps({"pid": child.pid, "url": "http://127.0.0.1:7860"}))
    yield store
    child.kill()
    child.wait()


def test_cli_writes_refuse_while_a_server_owns_the_store(served, docs, capsys):
    for argv in (
        ["ingest", str(docs)],
        ["delete", "default"],
        ["delete", "default", "--source", "x.txt"],
        ["reindex", "default", "--encoder", "dpr-nq"],
    ):
        code, _, err = run(capsys, *argv, "--store", str(served))
        assert code != 0 and "rag serve (pid" in err and "/v1/ingest" in err and "Traceback" not in err, argv
    assert not (served / "collections").exists()  # nothing was written


def test_a_stale_record_is_removed_and_the_write_goes_ahead(tmp_path, docs, capsys):
    store = tmp_path / "store"
    store.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (store / RECORD).write_text(json.dumps({"pid": gone.pid, "url": "http://127.0.0.1:7860"}))
    code, out, err = run(capsys, "ingest", str(docs), "--store", str(store), "--no-progress")
    assert code == 0, err
    assert not (store / RECORD).exists()


def test_the_server_records_itself_for_as_long_as_it_runs(tmp_path):
    store = tmp_path / "store"
    with owning(store, "http://127.0.0.1:9999"):
        record = json.loads((store / RECORD).read_text())
        assert record["pid"] == os.getpid() and record["url"] == "http://127.0.0.1:9999"
        assert running_server(store) is None  # this process's own writes are not refused
    assert not (store / RECORD).exists()


def test_a_second_server_on_one_store_is_refused(served):
    with pytest.raises(StoreBusy, match="another rag serve"):
        with owning(served, "http://127.0.0.1:7861"):
            pass
