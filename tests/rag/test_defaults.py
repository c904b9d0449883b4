"""What a newcomer gets with no flags: the shipped encoder for the built-in corpus, the shipped reader with its
span check, answers that lead with the span, abstention; and moving an existing collection with `rag reindex`."""

import json
import re
from pathlib import Path

import pytest

from rag.cli import main
from rag.config import Settings
from tests.conftest import write_docs


@pytest.fixture(autouse=True)
def defaults(monkeypatch):
    """The suite's environment turns the reader off for speed (tests/conftest.py); here it is the default again."""
    monkeypatch.delenv("RAG_READER", raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_defaults_are_the_shipped_models():
    settings = Settings()
    assert settings.reader == "reader-nq" and settings.builtin_encoder == "dpr-nq"
    assert settings.encoder == "all-MiniLM-L6-v2"  # your own documents: the base encoder (docs/training.md)
    assert settings.encoder_for(None, builtin=True) == "dpr-nq" and settings.encoder_for(None) == "all-MiniLM-L6-v2"
    assert settings.encoder_for("models/x", builtin=True) == "models/x"  # a collection keeps its encoder
    assert settings.leads() and not settings.hints() and settings.reader_check
    remote = Settings(model="openai/gpt-4o-mini")
    assert not remote.leads() and remote.hints()  # a capable model gets the span as a hint instead
    assert Settings(reader="none").reader is None and not Settings(reader="none").hints()


def test_encoders_run_on_int8_onnx_by_default_on_the_cpu():
    assert Settings().backend == "auto" and Settings().encoder_backend() == "onnx-int8"
    assert Settings().encoder_options()["backend"] == "auto"  # resolved by load_encoder, which may fall back
    assert Settings(device="cuda").encoder_backend() == "torch"
    assert Settings(backend="torch").encoder_options()["backend"] == "torch"


def test_the_embedded_model_reads_trimmed_passages_and_other_models_whole_ones(tmp_path, monkeypatch):
    from rag.assembly import build_engine
    from rag.config import EMBEDDED_PROMPT_SENTENCES
    from rag.documents.pipeline import ingest

    assert Settings().trims() == EMBEDDED_PROMPT_SENTENCES == 2
    assert Settings(model="local/smollm2").trims() == 2 and Settings(model="openai/gpt-4o-mini").trims() == 0
    assert Settings(prompt_sentences=0).trims() == 0 and Settings(model="openai/x", prompt_sentences=3).trims() == 3
    monkeypatch.setenv("RAG_PROMPT_SENTENCES", "4")
    assert Settings().trims() == 4
    monkeypatch.delenv("RAG_PROMPT_SENTENCES")
    settings = Settings(store=tmp_path / "store", reader="none")
    ingest([str(write_docs(tmp_path / "docs"))], settings, progress=False)
    assert build_engine(settings).trim_sentences == 2
    assert build_engine(settings.model_copy(update={"model": "openai/gpt-4o-mini"})).trim_sentences == 0


def test_the_default_answer_path_abstains_below_the_retrieval_score_chosen_for_it(tmp_path, monkeypatch):
    from rag.assembly import build_engine
    from rag.config import ABSTAIN_SCORE
    from rag.documents.pipeline import ingest

    assert Settings().abstention_threshold() == ABSTAIN_SCORE == 8.9  # the reader's span leads, hybrid linear
    for other in (
        {"model": "openai/gpt-4o-mini"},
        {"mode": "dense"},
        {"fusion": "rrf"},
        {"dense_weight": 2.0},
        {"reader": "none"},
        {"abstain_score": "none"},
    ):
        assert Settings(**other).abstention_threshold() is None, other  # not the path the score was chosen on
    assert Settings(mode="bm25", abstain_score=12.0).abstention_threshold() == 12.0  # a threshold set is kept
    monkeypatch.setenv("RAG_ABSTAIN_SCORE", "none")
    assert Settings().abstention_threshold() is None
    monkeypatch.delenv("RAG_ABSTAIN_SCORE")

    settings = Settings(store=tmp_path / "store", reader_check=False)
    ingest([str(write_docs(tmp_path / "docs"))], settings, progress=False)  # 5 passages
    assert build_engine(settings).abstain_below is None  # fewer passages than fusion candidates: another scale
    assert build_engine(settings.model_copy(update={"candidates": 3})).abstain_below == ABSTAIN_SCORE
    assert build_engine(settings.model_copy(update={"abstain_score": 2.0})).abstain_below == 2.0


@pytest.mark.slow
def test_the_built_in_corpus_is_indexed_with_the_fine_tuned_encoder(tmp_path, monkeypatch, capsys):
    import rag.documents.loaders

    corpus = tmp_path / "summaries.json"
    corpus.write_text(
        json.dumps(
            {
                "Eiffel Tower": {
                    "title": "Eiffel Tower",
                    "extract": "A lattice tower in Paris designed by Gustave Eiffel.",
                },
                "Nile": {"title": "Nile", "extract": "The Nile flows north through eleven countries."},
            }
        )
    )
    monkeypatch.setattr(rag.documents.loaders, "_wiki_vital_file", lambda: corpus)
    store = str(tmp_path / "store")
    code, out, err = run(capsys, "ingest", "wiki-vital", "--store", store, "--no-progress")
    assert code == 0, err
    code, out, _ = run(capsys, "collections", "--store", store, "--json")
    assert code == 0 and {c["name"]: c["model"] for c in json.loads(out)} == {"wiki-vital": "dpr-nq"}
    code, out, _ = run(
        capsys, "search", "who designed the tower in paris", "-c", "wiki-vital", "--store", store, "--json"
    )
    assert code == 0 and json.loads(out)[0]["title"] == "Eiffel Tower"


@pytest.mark.slow
def test_rag_reindex_moves_an_existing_collection_to_the_fine_tuned_encoder(tmp_path, capsys):
    store = str(tmp_path / "store")
    docs = write_docs(tmp_path / "docs")
    assert run(capsys, "ingest", str(docs), "--collection", "notes", "--store", store, "--no-progress")[0] == 0
    code, out, err = run(capsys, "reindex", "notes", "--encoder", "dpr-nq", "--store", store, "--no-progress")
    assert code == 0, err
    code, out, _ = run(capsys, "collections", "--store", store, "--json")
    models = {c["name"]: c["model"] for c in json.loads(out)}
    assert models == {"notes": "all-MiniLM-L6-v2", "notes.dpr-nq": "dpr-nq"}
    code, out, _ = run(
        capsys, "search", "Who designed the tower?", "-c", "notes", "--encoder", "dpr-nq", "--store", store, "--json"
    )
    assert code == 0 and "Eiffel" in json.loads(out)[0]["text"]


@pytest.mark.slow
def test_the_default_answer_leads_with_the_readers_span_and_its_citation(tmp_path, capsys):
    store = str(tmp_path / "store")
    docs = write_docs(tmp_path / "docs")
    assert run(capsys, "ingest", str(docs), "--store", store, "--no-progress")[0] == 0
    code, out, err = run(capsys, "ask", "Who designed the Eiffel Tower?", "--store", store, "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert re.match(r"\*\*Gustave Eiffel\*\* \[\d\] — “", answer["answer"]), answer["answer"]
    assert answer["short_answer"]["text"] == "Gustave Eiffel" and not answer["refused"]
    assert answer["sources"] and "Eiffel" in answer["sources"][0]["snippet"]


def readme_block(title: str) -> list[str]:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split(title, 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


@pytest.mark.slow
def test_the_readmes_own_folder_quickstart_runs_on_a_tiny_folder(tmp_path, capsys, monkeypatch):
    from fastapi.testclient import TestClient

    from ui.api import create_api

    commands = readme_block("**Your own folder.**")
    assert [c.split()[:2] for c in commands if c.startswith("rag")] == [
        ["rag", "ingest"],
        ["rag", "ask"],
        ["rag", "serve"],
    ]
    folder = write_docs(tmp_path / "notes")
    store = str(tmp_path / "store")
    for command in commands:
        if not command.startswith("rag "):
            continue
        argv = command.replace("~/notes", str(folder)).replace('"..."', "Who designed the Eiffel Tower?").split()
        argv = [a for a in argv[1:]]
        if argv[0] == "ask":
            argv = ["ask", "Who designed the Eiffel Tower?", *argv[-2:]]
        if argv[0] == "serve":
            settings = Settings(store=tmp_path / "store", collection="notes")
            with TestClient(create_api(settings)) as client:
                assert client.get("/healthz").status_code == 200
                reply = client.post("/v1/retrieve", json={"query": "Who designed the Eiffel Tower?"})
                assert reply.status_code == 200 and "Eiffel" in json.dumps(reply.json())
            continue
        code, out, err = run(capsys, *argv, "--store", store)
        assert code == 0, (command, err)
        if argv[0] == "ask":
            assert "Gustave Eiffel" in out
