"""The UI's callbacks without a browser: streaming chat with sources, uploads, evaluation."""

import json

from rag.answer import Engine
from rag.retrieval import open_collection, open_retriever
from retrievers import RagError
from tests.rag.fakes import ScriptedLLM
from ui.app import build_ui
from ui.backend import Backend, message_text

ANSWER = "Mars is red because of iron oxide [1]"


def factory(settings, name):
    return Engine(open_retriever(settings, open_collection(settings, name), settings.mode), ScriptedLLM([ANSWER]))


def test_respond_streams_the_answer_then_shows_its_sources(ingested):
    backend = Backend(ingested, factory)
    steps = list(backend.respond("Why is Mars red?", [], "default", mode="bm25", context_k=2))
    growing = [chat[-1]["content"] for chat, _ in steps]
    assert len(steps) > 2 and growing[0] and all(b.startswith(a) for a, b in zip(growing, growing[1:]))
    chat, sources = steps[-1]
    assert chat[-2] == {"role": "user", "content": "Why is Mars red?"} and chat[-1]["content"] == ANSWER
    assert "[1] Mars" in sources and "score" in sources and "iron oxide" in sources
    # Settings from the panel pick the engine: one per distinct combination.
    list(backend.respond("Again?", chat, "default", mode="bm25", context_k=2))
    list(backend.respond("Dense?", [], "default", mode="dense", context_k=2))
    assert len(backend.engines._engines) == 2


def test_respond_shows_errors_in_the_chat_and_ignores_empty_questions(ingested):
    def broken(settings, name):
        raise RagError("no API key for openai/gpt-4o-mini: set OPENAI_API_KEY")

    backend = Backend(ingested, broken)
    assert list(backend.respond("   ", [], "default")) == [([], "")]
    ((chat, _),) = list(backend.respond("Hello?", [], "default"))
    assert chat[-1]["content"].startswith("⚠️ no API key")


def test_history_in_gradio_part_form_reaches_the_engine(ingested):
    llm = ScriptedLLM([ANSWER], condense="Why is Mars red?")
    backend = Backend(ingested, lambda s, n: Engine(open_retriever(s, open_collection(s, n), "bm25"), llm))
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Tell me about Mars"}]},
        {"role": "assistant", "content": "It is a planet."},
    ]
    list(backend.respond("Why is it red?", history, "default"))
    assert "Tell me about Mars" in json.dumps(llm.calls[0])  # the condense step saw the earlier turn
    assert message_text([{"type": "text", "text": "a"}, "b"]) == "ab"


def test_uploads_are_ingested_with_a_line_per_file_and_audited(ingested, tmp_path):
    from rag.access import AuditLog

    good = tmp_path / "saturn.txt"
    good.write_text("Saturn has the most spectacular rings in the Solar System.", encoding="utf-8")
    empty = tmp_path / "empty.md"
    empty.write_text("", encoding="utf-8")
    backend = Backend(ingested, factory)
    text = backend.ingest_files([str(good), str(empty)], "notes")
    assert "1 passages added" in text and "✅ `saturn.txt`: 1 passages indexed" in text and "⚠️ `empty.md`" in text
    assert "notes" in backend.collections()
    assert "- `saturn.txt`: unchanged" in backend.ingest_files([str(good)], "notes")
    assert backend.ingest_files([str(tmp_path / "x.exe")], "notes").startswith("⚠️ Nothing added")
    entries = [e for e in AuditLog(ingested.store).entries() if e.action == "ingest"]
    assert [(e.actor, e.target) for e in entries] == [("ui", "notes"), ("ui", "notes")]  # the refused one is not
    assert "files=saturn.txt,empty.md added=1" in entries[-1].detail  # newest first


def test_the_documents_tab_gives_its_metadata_to_every_passage(ingested, tmp_path):
    from rag.retrieval import open_collection

    doc = tmp_path / "plan.md"
    doc.write_text("The launch plan moves to the second quarter.", encoding="utf-8")
    backend = Backend(ingested, factory)
    assert "1 passages added" in backend.ingest_files([str(doc)], "plans", meta="year=2025\n\nowner=Ada Lovelace\n")
    coll = open_collection(ingested, "plans")
    assert [(p.extra["owner"], p.extra["year"]) for p in coll.passages()] == [("Ada Lovelace", 2025)]
    coll.close()
    assert backend.ingest_files([str(doc)], "plans", meta="reserved").startswith("⚠️ Nothing added")


def test_evaluate_tab_runs_the_retrieval_evaluation(ingested, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "Which planet is red?", "answer": ["Mars"]}\n', encoding="utf-8")
    table, plot = Backend(ingested, factory).evaluate(str(qa), "nq-open", "default", ["bm25"], "1,5", tmp_path / "r")
    assert "| bm25 | 100.0 | 100.0 |" in table and plot.endswith("topk_accuracy.png")
    table, plot = Backend(ingested, factory).evaluate(str(qa), "squad", "default", ["bm25"], "1", tmp_path / "r")
    assert table.startswith("⚠️") and plot is None


def test_the_ui_builds_offline(ingested):
    ui = build_ui(ingested, Backend(ingested, factory))
    assert ui.title == "dpr-rag"


def test_with_a_token_the_ui_asks_for_a_login(ingested):
    from fastapi.testclient import TestClient

    from ui import create_api
    from ui.app import mount_ui

    settings = ingested.model_copy(update={"api_token": "s3cret"})
    client = TestClient(mount_ui(create_api(settings), settings, Backend(settings, factory)))
    assert client.get("/config").status_code == 401
    assert client.post("/login", data={"username": "me", "password": "wrong"}).status_code == 400
    assert client.post("/login", data={"username": "me", "password": "s3cret"}).status_code == 200
    assert client.get("/config").status_code == 200


def test_the_sources_panel_leads_with_the_short_answer_in_bold_in_its_passage(ingested):
    from tests.rag.test_engine import PointingReader

    def with_reader(settings, name):
        return Engine(
            open_retriever(settings, open_collection(settings, name), settings.mode),
            ScriptedLLM([ANSWER]),
            reader=PointingReader("iron oxide"),
            reader_k=5,
        )

    chat, sources = list(Backend(ingested, with_reader).respond("Why is Mars red?", [], "default"))[-1]
    assert sources.startswith("**Short answer: iron oxide** [1]") and "**iron oxide**" in sources
    assert "[1] Mars" in sources


def test_a_refused_answer_is_marked_in_the_chat(ingested):
    from tests.rag.test_engine import PointingReader
    from ui.backend import REFUSED_MARK

    def abstaining(settings, name):
        return Engine(
            open_retriever(settings, open_collection(settings, name), settings.mode),
            ScriptedLLM([ANSWER]),
            reader=PointingReader("Mars"),
            abstain_below=1e9,
        )

    chat, _ = list(Backend(ingested, abstaining).respond("Which planet is red?", [], "default", mode="bm25"))[-1]
    assert chat[-1]["content"].startswith("The retrieved documents don't say.")
    assert chat[-1]["content"].endswith(REFUSED_MARK)
    chat, _ = list(Backend(ingested, factory).respond("Why is Mars red?", [], "default", mode="bm25"))[-1]
    assert REFUSED_MARK not in chat[-1]["content"]


def test_the_filter_box_restricts_the_sources(ingested):
    backend = Backend(ingested, factory)
    *_, (chat, sources) = backend.respond("Why is Mars red?", [], "default", mode="dense", where="source=*rivers*")
    assert "Mars" not in sources.split("score")[0] and "Rivers" in sources
    *_, (chat, _) = backend.respond("Why is Mars red?", [], "default", where="page>")
    assert chat[-1]["content"].startswith("⚠️") and "needs a value" in chat[-1]["content"]


def test_filter_box_text_is_comma_separated_where_expressions():
    from ui.backend import filter_box

    assert filter_box("source=docs/*, page<=3").to_dict()["filters"] == [
        {"key": "source", "operator": "glob", "value": "docs/*"},
        {"key": "page", "operator": "<=", "value": 3},
    ]
    assert filter_box(r"title=a\, b").conditions[0].value == "a, b"
    assert not filter_box("  ")
