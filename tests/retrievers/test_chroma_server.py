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
from rag.ingestion import ingest
from rag.retrieval import open_collection, open_retriever

pytestmark = [pytest.mark.slow, pytest.mark.server]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "w")
    proc = subprocess.Popen([chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not answer within 90 s")
    yield url, data / "db"
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


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


def test_an_unreachable_server_is_one_clear_line(docs, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    code = main(["ingest", str(docs), "--store", str(tmp_path / "s"), "--chroma-url", url, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: cannot reach the Chroma server at {url}")
    assert "RAG_CHROMA_URL" in err and err.count("\n") == 1
    assert not (tmp_path / "s" / "collections" / "default").exists()  # no empty collection left behind
