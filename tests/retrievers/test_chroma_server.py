"""The same code against a real Chroma server started with `chroma run` on 127.0.0.1."""

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag.cli import main
from rag.documents.pipeline import ingest
from rag.documents.sources import delete_source
from rag.retrieval import open_collection, open_retriever

pytestmark = [pytest.mark.slow, pytest.mark.server]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chroma(port: int, db: Path, log_path: Path) -> subprocess.Popen:
    """`chroma run` on 127.0.0.1:port over `db`, once it answers its heartbeat."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    log = open(log_path, "a")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(db), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
    proc.kill()
    pytest.fail("chroma run did not answer within 90 s")


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    proc = start_chroma(port, data / "db", data / "server.log")
    yield f"http://127.0.0.1:{port}", data / "db"
    proc.terminate()
    proc.wait(timeout=30)


def test_ingest_and_search_through_a_chroma_server(chroma_server, docs, settings):
    url, server_db = chroma_server
    remote = settings.model_copy(update={"chroma_url": url})
    report = ingest([str(docs)], remote, collection="served", progress=False)
    assert report.added == 5
    assert not (settings.store / "chroma").exists()  # the vectors went to the server, not an embedded store
    assert server_db.exists()
    coll = open_collection(remote, "served")
    assert coll.dense().count() == 5 and not any(coll.consistency().values())
    for mode in ("dense", "hybrid"):
        hits = open_retriever(remote, coll, mode).search("the red planet")
        assert hits[0][0].title == "Mars"
    again = ingest([str(docs)], remote, collection="served", progress=False)
    assert again.added == 0 and again.unchanged == 5
    coll.close()
    for name in ("paris.txt", "rivers.md"):
        done = delete_source(remote, "served", str(docs / name))
    assert done.removed >= 1 and done.advice is None  # more than 30% went, but a Chroma server compacts its own


def test_an_unreachable_server_is_one_clear_line(docs, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    code = main(["ingest", str(docs), "--store", str(tmp_path / "s"), "--chroma-url", url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: cannot reach the Chroma server at {url}")
    assert "RAG_CHROMA_URL" in err and err.count("\n") == 1
    assert not (tmp_path / "s" / "collections" / "default").exists()  # no empty collection left behind


def test_a_server_that_goes_down_is_a_clear_error_and_the_same_retriever_recovers_when_it_returns(
    docs, tmp_path, capsys
):
    from fastapi.testclient import TestClient

    from retrievers.errors import StoreUnavailable
    from ui import create_api

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_chroma(port, tmp_path / "db", tmp_path / "server.log")
    try:
        from rag.config import Settings

        remote = Settings(store=tmp_path / "store", chroma_url=url)
        assert ingest([str(docs)], remote, progress=False).added == 5
        retriever = open_retriever(remote, open_collection(remote), "hybrid")
        assert retriever.search("the red planet")[0][0].title == "Mars"
        client = TestClient(create_api(remote))
        assert client.post("/v1/retrieve", json={"query": "the red planet"}).status_code == 200
        proc.terminate()
        proc.wait(timeout=30)

        with pytest.raises(StoreUnavailable, match=f"the Chroma server at {url}"):
            retriever.search("the red planet")
        code = main(["search", "the red planet", "--store", str(remote.store), "--chroma-url", url])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and url in err
        down = client.post("/v1/retrieve", json={"query": "the red planet"})
        assert down.status_code == 503 and url in down.json()["error"]["message"]

        proc = start_chroma(port, tmp_path / "db", tmp_path / "server.log")  # back, on the same data
        assert retriever.search("the red planet")[0][0].title == "Mars"  # the same objects, no restart
        assert client.post("/v1/retrieve", json={"query": "the red planet"}).json()["data"][0]["title"] == "Mars"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
