import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import run

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_prints_a_summary_and_json(docs, tmp_path, capsys):
    store = str(tmp_path / "s")
    code, out, _ = run(capsys, "ingest", str(docs), str(tmp_path / "missing.txt"), "--store", store, "--json")
    summary = json.loads(out)
    assert code == 0 and summary["added"] == 5 and summary["files_read"] == 4
    assert summary["failed"] == [{"path": str(tmp_path / "missing.txt"), "reason": "no such file or folder"}]
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store)
    assert "0 added, 5 unchanged, 0 removed" in out and "4 unchanged" in out


@pytest.mark.parametrize("mode,fusion", [("dense", None), ("bm25", None), ("hybrid", "rrf"), ("hybrid", "linear")])
def test_search_json_in_every_mode(store, capsys, mode, fusion):
    argv = ["search", "Which tower did Gustave Eiffel build?", "--store", store, "--mode", mode, "-k", "3", "--json"]
    if fusion:
        argv += ["--fusion", fusion]
    code, out, _ = run(capsys, *argv)
    hits = json.loads(out)
    assert code == 0 and 1 <= len(hits) <= 3
    assert set(hits[0]) >= {"id", "score", "title", "source", "text"}
    assert "Eiffel" in hits[0]["text"] and hits[0]["source"].endswith("paris.txt")
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_human_output_and_collections(store, capsys):
    code, out, _ = run(capsys, "search", "red planet", "--store", store, "-k", "2")
    assert code == 0 and out.lstrip().startswith("1.") and "Mars" in out
    code, out, _ = run(capsys, "collections", "--store", store, "--json")
    assert json.loads(out) == [{"name": "default", "passages": 5, "sources": 4, "model": "all-MiniLM-L6-v2"}]


def test_user_mistakes_give_one_line_and_a_nonzero_exit(store, tmp_path, capsys):
    code, _, err = run(capsys, "search", "x", "--store", store, "--collection", "nope")
    assert code == 1 and err.startswith("error: collection 'nope' does not exist") and err.count("\n") == 1
    code, _, err = run(capsys, "search", "   ", "--store", store)
    assert code == 2 and "empty" in err
    code, _, err = run(capsys, "search", "x", "--store", store, "-k", "0")
    assert code == 2 and err.startswith("error: invalid setting: top_k")
    code, _, err = run(capsys, "search", "x", "--store", store, "--dense-weight", "-1")
    assert code == 2 and err.startswith("error: invalid setting: dense_weight")
    code, _, err = run(capsys, "search", "x", "--store", store, "--encoder", "/no/model")
    assert code == 1 and "never downloaded" in err
    code, out, _ = run(capsys, "ingest", str(tmp_path / "none"), "--store", store)
    assert code == 1 and "no such file or folder" in out
    code, _, err = run(capsys, "search", "x", "--store", str(tmp_path / "empty-store"))
    assert code == 1 and "rag ingest" in err


def test_interactive_search_reads_questions_until_eof(store, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("moon\n"))
    code, out, err = run(capsys, "search", "--store", store, "-k", "1")
    assert code == 0 and "Moon" in out and "searching default" in err


def test_the_installed_command_runs_without_a_traceback(store):
    env = {**os.environ, "RAG_STORE": store}
    help_text = subprocess.run([sys.executable, "-m", "rag", "--help"], capture_output=True, text=True, env=env)
    assert help_text.returncode == 0 and "ingest" in help_text.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "rag", "search", "x", "-c", "bad/name"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "invalid collection name" in bad.stderr


def test_help_loads_no_heavy_library():
    code = (
        "import sys, rag.cli; rag.cli.build_parser().format_help(); "
        "print(sorted(m for m in ('torch', 'chromadb', 'llama_index', 'sentence_transformers', 'bm25s', "
        "'litellm', 'langfuse', 'llama_cpp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "[]"


def test_delete_removes_a_collection(store, capsys):
    code, out, _ = run(capsys, "delete", "default", "--store", store)
    assert code == 0 and out.strip() == "deleted collection default"
    code, out, _ = run(capsys, "collections", "--store", store)
    assert code == 0 and out.startswith("no collections in")
    code, _, err = run(capsys, "delete", "default", "--store", store)
    assert code == 1 and "does not exist" in err


def test_package_exports_resolve_to_the_functions():
    import rag

    assert callable(rag.ingest) and rag.ingest.__name__ == "ingest"
    assert rag.Settings.__name__ == "Settings"


def test_ask_json_through_any_litellm_model(store, capsys, fake_provider):
    code, out, _ = run(
        capsys,
        "ask",
        "What is the red planet?",
        "--store",
        store,
        "--model",
        fake_provider,
        "--api-base",
        "http://unused",
        "--json",
    )
    data = json.loads(out)
    assert code == 0 and set(data) >= {"answer", "sources", "model", "timings"}
    assert data["model"] == fake_provider and data["answer"].startswith("echo: ")
    assert data["retrieved"] and data["retrieved"][0]["title"] == "Mars"


def test_ask_streams_and_chat_keeps_history(store, capsys, monkeypatch, fake_provider):
    import io

    code, out, _ = run(capsys, "ask", "red planet", "--store", store, "--model", fake_provider, "--api-base", "x")
    assert code == 0 and out.startswith("echo: ") and ("sources:" in out or "retrieved (none cited):" in out)
    monkeypatch.setattr(sys, "stdin", io.StringIO("red planet\n/sources\n/reset\n/sources\n/oops\n/quit\n"))
    code, out, err = run(capsys, "chat", "--store", store, "--model", fake_provider, "--api-base", "x")
    assert code == 0 and "chatting with fake/model over default" in err
    assert out.count("echo: ") == 1 and "Mars" in out and "(history cleared)" in out and "(no answer yet)" in out
    assert "commands: /sources, /reset, /quit" in out


def test_ask_errors_are_one_line(store, capsys):
    code, _, err = run(capsys, "ask", "  ", "--store", store, "--model", "local/smollm2")
    assert code == 1 and err == "error: the question is empty\n"
    code, _, err = run(capsys, "ask", "hi", "--store", store, "--model", "nonsense")
    assert code == 1 and err.startswith("error: unknown model 'nonsense'") and err.count("\n") == 1
    code, _, err = run(capsys, "ask", "hi", "--store", store, "--collection", "nothing-here")
    assert code == 1 and "rag ingest" in err


def test_k_of_ask_is_the_number_of_passages_the_model_reads(store, capsys, fake_provider):
    code, out, _ = run(
        capsys,
        "ask",
        "planets and rivers",
        "--store",
        store,
        "--model",
        fake_provider,
        "--api-base",
        "x",
        "-k",
        "2",
        "--json",
    )
    assert code == 0 and len(json.loads(out)["retrieved"]) == 2
