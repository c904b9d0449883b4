"""A failing LLM, over litellm's real HTTP path: retried with backoff, then one clear message, sources kept."""

import json
import time

import pytest
from fastapi.testclient import TestClient

from rag.answer import GenerationFailed
from rag.assembly import build_engine
from rag.llm import LLM, Generation
from retrievers.errors import RagError

from .conftest import run
from .llm_server import ScriptedLLMServer

QUESTION = [{"role": "user", "content": "Where is the Eiffel Tower?"}]
SECRET = "sk-test-this-key-must-never-be-shown"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def scripted_llm(server, *, retries=2, timeout=5.0):
    llm = LLM("openai/scripted", api_base=server.url, retries=retries, backoff=0.01, timeout=timeout)
    llm.waits = []
    llm._sleep = llm.waits.append  # record the backoff instead of sleeping it
    return llm


def test_transient_errors_are_retried_with_growing_waits_then_answered():
    with ScriptedLLMServer([("status", 503), ("status", 429), ("ok", "Paris")]) as server:
        llm = scripted_llm(server)
        assert llm.complete(QUESTION).text == "Paris"
        assert server.requests == 3 and llm.waits == [0.01, 0.02]


def test_a_timeout_is_retried_then_reported_in_one_line():
    with ScriptedLLMServer([("sleep", 2.0)]) as server:
        llm = scripted_llm(server, retries=1, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(RagError) as info:
            llm.complete(QUESTION)
        assert time.monotonic() - started < 1.9  # abandoned at the timeout, not after the model's reply
        assert server.requests == 2
    message = str(info.value)
    assert "openai/scripted" in message and "2 attempts" in message and "\n" not in message
    assert SECRET not in message


@pytest.mark.parametrize("status, words", [(401, "API key"), (400, "failed")])
def test_errors_that_a_retry_cannot_fix_fail_at_once(status, words):
    with ScriptedLLMServer([("status", status), ("ok", "never reached")]) as server:
        llm = scripted_llm(server)
        with pytest.raises(RagError, match=words) as info:
            llm.complete(QUESTION)
        assert server.requests == 1 and llm.waits == []
    assert SECRET not in str(info.value)


def test_a_stream_is_retried_before_its_first_token_but_never_after():
    with ScriptedLLMServer([("status", 502), ("ok", "in Paris")]) as server:
        generation = Generation()
        assert "".join(scripted_llm(server).stream(QUESTION, generation)).strip() == "in Paris"
        assert server.requests == 2
    with ScriptedLLMServer([("cut", "it is in"), ("ok", "a second answer would repeat the first")]) as server:
        generation = Generation()
        pieces = []
        with pytest.raises(RagError):
            for piece in scripted_llm(server).stream(QUESTION, generation):
                pieces.append(piece)
        assert server.requests == 1  # text was already shown: retrying would say it twice
        assert "".join(pieces).strip() == "it is in"


def test_the_engine_keeps_the_retrieved_passages_when_the_model_fails(ingested):
    with ScriptedLLMServer([("status", 503)]) as server:
        settings = ingested.model_copy(update={"model": "openai/scripted", "api_base": server.url, "llm_retries": 1})
        engine = build_engine(settings)
        engine.llm._sleep = lambda seconds: None
        with pytest.raises(GenerationFailed) as info:
            engine.ask("Where is the Eiffel Tower?")
        assert server.requests == 2
    failure = info.value
    assert isinstance(failure, RagError) and "openai/scripted" in str(failure)
    assert failure.sources and failure.sources[0].passage.title == "paris"


def test_rag_ask_prints_the_error_line_and_still_lists_the_passages(store, capsys, monkeypatch):
    monkeypatch.setenv("RAG_LLM_RETRIES", "0")
    with ScriptedLLMServer([("status", 503)]) as server:
        code, out, err = run(
            capsys,
            "ask",
            "Where is the Eiffel Tower?",
            "--store",
            store,
            "--model",
            "openai/scripted",
            "--api-base",
            server.url,
        )
        assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
        assert "paris" in out and "Traceback" not in out + err
        code, out, _ = run(
            capsys,
            "ask",
            "Where is the Eiffel Tower?",
            "--store",
            store,
            "--model",
            "openai/scripted",
            "--api-base",
            server.url,
            "--json",
        )
    body = json.loads(out)
    assert code == 1 and body["error"] and body["answer"] == "" and body["retrieved"][0]["title"] == "paris"
    assert SECRET not in out + err


def test_the_api_answers_502_with_the_retrieved_passages(ingested):
    from ui.api import create_api

    with ScriptedLLMServer([("status", 503)]) as server:
        settings = ingested.model_copy(update={"model": "openai/scripted", "api_base": server.url, "llm_retries": 0})
        client = TestClient(create_api(settings))
        request = {"model": "rag", "messages": [{"role": "user", "content": "Where is the Eiffel Tower?"}]}
        reply = client.post("/v1/chat/completions", json=request)
        assert reply.status_code == 502
        body = reply.json()
        assert body["error"]["code"] == "llm_unavailable" and body["retrieved"][0]["title"] == "paris"
        streamed = client.post("/v1/chat/completions", json={**request, "stream": True}).text
    events = [json.loads(line[6:]) for line in streamed.splitlines() if line.startswith("data: {")]
    assert events[-1]["error"]["code"] == "llm_unavailable" and events[-1]["retrieved"][0]["title"] == "paris"
    assert streamed.rstrip().endswith("data: [DONE]") and SECRET not in streamed + reply.text


def test_no_key_reaches_a_log_line_a_trace_span_or_an_error(ingested, caplog):
    import logging
    import uuid

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from rag.answer import Engine
    from rag.retrieval import open_collection, open_retriever
    from rag.tracing import LangfuseTracer

    langfuse_secret = f"sk-lf-{uuid.uuid4()}"
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    tracer = LangfuseTracer(
        f"pk-lf-{uuid.uuid4()}", langfuse_secret, "http://127.0.0.1:9", span_exporter=exporter, tracer_provider=provider
    )
    caplog.set_level(logging.DEBUG)
    with ScriptedLLMServer([("ok", "It is in Paris [1]."), ("status", 401)]) as server:
        engine = Engine(
            open_retriever(ingested, open_collection(ingested), "hybrid"), scripted_llm(server), tracer=tracer
        )
        answered = engine.ask("Where is the Eiffel Tower?")
        with pytest.raises(GenerationFailed) as failed:
            engine.ask("Where is the Eiffel Tower?")
    tracer.flush()
    spans = exporter.get_finished_spans()
    provider.shutdown()
    assert "Paris" in answered.answer and len(spans) >= 10
    everything = " ".join(str(dict(s.attributes)) + str(s.events) for s in spans) + caplog.text + str(failed.value)
    assert "Eiffel" in everything  # what was captured is real content
    assert SECRET not in everything and langfuse_secret not in everything
