"""The HTTP API with raw HTTP (FastAPI's test client) and with the official `openai` client on a real server."""

import json

import pytest
from fastapi.testclient import TestClient

from rag.answer import Engine
from rag.retrieval import open_collection, open_retriever
from tests.rag.fakes import ScriptedLLM
from ui import Engines, create_api

from .servers import running

ANSWER = "Mars is called the red planet [1]"


def scripted_engines(settings):
    def factory(s, name):
        llm = ScriptedLLM([ANSWER], max_tokens=s.max_tokens)
        llm.temperature = s.temperature
        return Engine(open_retriever(s, open_collection(s, name)), llm)

    return Engines(settings, factory)


@pytest.fixture
def client(ingested):
    return TestClient(create_api(ingested, engines=scripted_engines(ingested)))


def ask(question="Which planet is red?", **extra):
    return {"model": "rag", "messages": [{"role": "user", "content": question}], **extra}


def test_health_and_models(client):
    assert client.get("/healthz").json()["collections"] == ["default"]
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["rag", "default"]


def test_a_completion_carries_the_answer_and_its_sources(client):
    body = client.post("/v1/chat/completions", json=ask()).json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == ANSWER
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["completion_tokens"] > 0
    assert body["sources"][0]["title"] == "Mars" and "iron oxide" in body["sources"][0]["text"]


def test_streaming_sends_well_formed_chunks_then_sources_then_done(client):
    body = ask(stream=True, stream_options={"include_usage": True})
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in r.iter_lines() if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == ANSWER
    final = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] == "stop"]
    assert len(final) == 1 and final[0]["sources"][0]["title"] == "Mars"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_max_tokens_and_temperature_reach_the_model(ingested):
    engines = scripted_engines(ingested)
    client = TestClient(create_api(ingested, engines=engines))
    assert client.post("/v1/chat/completions", json=ask(max_tokens=17, temperature=0.5)).status_code == 200
    assert client.post("/v1/chat/completions", json=ask(max_completion_tokens=9)).status_code == 200
    assert client.post("/v1/chat/completions", json=ask(max_tokens=100_000)).status_code == 200
    [engine] = engines._engines.values()  # one engine: generation settings are per request, not cached
    assert engine.llm.settings_seen == [(17, 0.5), (9, 0.0), (ingested.max_tokens, 0.0)]  # clamped to the server's
    assert client.post("/v1/chat/completions", json=ask(max_tokens=0)).status_code == 422


def test_the_model_field_picks_the_collection(client):
    assert client.post("/v1/chat/completions", json={**ask(), "model": "default"}).status_code == 200
    r = client.post("/v1/chat/completions", json={**ask(), "model": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["error"]["message"]


def test_bad_requests_get_422_with_a_reason(client):
    r = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request_error"
    assert client.post("/v1/chat/completions", json={"model": "rag", "messages": []}).status_code == 422
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert r.status_code == 422 and "no user question" in r.json()["error"]["message"]
    assert client.post("/v1/retrieve", json={"query": ""}).status_code == 422


def test_the_schema_documents_the_errors_as_they_are_sent(client):
    spec = client.get("/openapi.json").json()
    error = spec["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if not path.startswith("/v1/"):
                continue
            responses = operation["responses"]
            for status in ("400", "401", "403", "404", "413", "422", "429", "503"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert "502" in spec["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert "409" in spec["paths"]["/v1/collections/{name}/compact"]["post"]["responses"]
    assert "415" in spec["paths"]["/v1/ingest"]["post"]["responses"]
    name = spec["paths"]["/v1/collections/{name}/sources"]["get"]["parameters"][0]["schema"]
    assert (name["minLength"], name["maxLength"]) == (3, 200) and name["pattern"].startswith("^[A-Za-z0-9]")
    # What is sent has the documented shape: a validation error, and a name outside the documented pattern.
    detail = set(spec["components"]["schemas"]["ErrorDetail"]["properties"])
    for r in (client.post("/v1/retrieve", json={"query": ""}), client.get("/v1/collections/0/sources")):
        assert r.status_code in (400, 422) and set(r.json()) == {"error"} and set(r.json()["error"]) == detail
    assert "invalid collection name" in client.get("/v1/collections/0/sources").json()["error"]["message"]
    # Errors raised by the framework itself take the same shape: a body that is not text, no such route or method.
    garbled = client.post("/v1/retrieve", content=b"=t\xff\x12", headers={"content-type": "application/json"})
    for r, status in ((garbled, 400), (client.get("/v1/nothing"), 404), (client.put("/v1/retrieve"), 405)):
        assert r.status_code == status and set(r.json()) == {"error"} and set(r.json()["error"]) == detail


def test_retrieve_returns_passages(client):
    body = client.post("/v1/retrieve", json={"query": "red planet", "k": 2, "mode": "bm25"}).json()
    assert body["collection"] == "default" and body["data"][0]["title"] == "Mars"
    dense = client.post("/v1/retrieve", json={"query": "red planet", "k": 2, "mode": "dense"}).json()
    assert len(dense["data"]) == 2 and dense["data"][0]["title"] == "Mars"


def test_retrieve_and_chat_take_metadata_filters(client):
    def retrieve(filters, mode="hybrid"):
        return client.post(
            "/v1/retrieve", json={"query": "the river with the most water", "k": 5, "mode": mode, "filters": filters}
        )

    llamaindex_json = {"filters": [{"key": "source", "value": "*rivers*", "operator": "glob"}], "condition": "and"}
    for filters in (llamaindex_json, ["source=*rivers*"]):
        for mode in ("dense", "bm25", "hybrid"):
            body = retrieve(filters, mode).json()
            assert body["data"] and all(h["source"].endswith("rivers.md") for h in body["data"]), (filters, mode)
    assert retrieve(["type=none"]).json()["data"] == []
    for bad in (
        {"filters": [{"key": "x"}]},
        ["no operator"],
        {"filters": [{"key": "x", "value": 1, "operator": "text_match"}]},
        7,
    ):
        r = retrieve(bad)
        assert r.status_code in (400, 422) and "filter" in r.json()["error"]["message"].lower(), bad
    body = client.post("/v1/chat/completions", json=ask(filters=["source=*rivers*"])).json()
    assert body["sources"] and all(s["source"].endswith("rivers.md") for s in body["sources"])
    r = client.post("/v1/chat/completions", json=ask(filters=["bad"], stream=True))
    assert r.status_code == 400  # refused before the stream starts


def test_a_token_is_required_when_configured(ingested):
    settings = ingested.model_copy(update={"api_token": "s3cret"})
    client = TestClient(create_api(settings, engines=scripted_engines(settings)))
    r = client.post("/v1/retrieve", json={"query": "red planet"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    wrong = {"Authorization": "Bearer wrong"}
    assert client.post("/v1/retrieve", json={"query": "x"}, headers=wrong).status_code == 401
    ok = client.post("/v1/retrieve", json={"query": "red planet"}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert client.get("/healthz").status_code == 200  # the health check stays open


def test_uploads_are_ingested_with_safe_names_and_limits(ingested, tmp_path):
    settings = ingested.model_copy(update={"upload_max_mb": 0.001, "upload_max_files": 2})  # about 1 KB
    client = TestClient(create_api(settings, engines=scripted_engines(settings)))
    text = b"Saturn has the most prominent rings of any planet in the Solar System."
    r = client.post(
        "/v1/ingest", files=[("files", ("../../escape.txt", text, "text/plain"))], data={"collection": "uploads"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["files"] == ["escape.txt"] and r.json()["added"] == 1
    assert (settings.store / "uploads" / "uploads" / "escape.txt").read_bytes() == text
    assert not (tmp_path / "escape.txt").exists()
    hits = client.post("/v1/retrieve", json={"query": "rings", "collection": "uploads", "mode": "bm25"}).json()
    assert "Saturn" in hits["data"][0]["text"]

    big = client.post("/v1/ingest", files=[("files", ("big.txt", b"x" * 5000, "text/plain"))])
    assert big.status_code == 413 and "limit" in big.json()["error"]["message"]
    many = client.post("/v1/ingest", files=[("files", (f"{i}.txt", b"a", "text/plain")) for i in range(3)])
    assert many.status_code == 413
    exe = client.post("/v1/ingest", files=[("files", ("tool.exe", b"MZ", "application/octet-stream"))])
    assert exe.status_code == 415
    uploads = settings.store / "uploads"
    assert not list(uploads.rglob("*.part")) and not (uploads / "default").exists()  # rejected: nothing written


def test_an_upload_past_its_passage_limit_is_refused_per_file_and_leaves_no_file(ingested):
    settings = ingested.model_copy(update={"upload_max_passages": 2})
    client = TestClient(create_api(settings, engines=scripted_engines(settings)))
    records = "".join(f'{{"text": "Tiny record {i}."}}\n' for i in range(3)).encode()
    r = client.post(
        "/v1/ingest",
        data={"collection": "uploads"},
        files=[
            ("files", ("tiny.jsonl", records, "application/json")),
            ("files", ("venus.txt", b"Venus is the hottest planet.", "text/plain")),
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [f["path"].rsplit("/", 1)[-1] for f in body["failed"]] == ["tiny.jsonl"]
    assert "more than 2 passages" in body["failed"][0]["reason"] and body["added"] == 1
    folder = settings.store / "uploads" / "uploads"
    assert sorted(p.name for p in folder.iterdir()) == ["venus.txt"]  # the refused file is not kept


def test_upload_metadata_reaches_every_passage_and_filters_on_it(ingested):
    client = TestClient(create_api(ingested, engines=scripted_engines(ingested)))
    r = client.post(
        "/v1/ingest",
        data={"collection": "tagged", "meta": ["year=2024", "team=ops"]},
        files=[("files", ("runbook.txt", b"Restart the queue worker when it stalls.", "text/plain"))],
    )
    assert r.status_code == 200, r.text
    client.post(
        "/v1/ingest",
        data={"collection": "tagged", "meta": "year=2019"},
        files=[("files", ("old.txt", b"Restart the old queue by hand.", "text/plain"))],
    )
    hits = client.post(
        "/v1/retrieve",
        json={"query": "restart queue", "collection": "tagged", "mode": "bm25", "filters": ["year>=2020"]},
    ).json()["data"]
    assert [h["source"].rsplit("/", 1)[-1] for h in hits] == ["runbook.txt"]
    assert hits[0]["metadata"]["year"] == 2024 and hits[0]["metadata"]["team"] == "ops"
    for bad in (["no-equals"], ["source=x"], ["k=" + "v" * 5000]):  # malformed, reserved, too long
        r = client.post(
            "/v1/ingest",
            data={"collection": "tagged", "meta": bad},
            files=[("files", ("bad.txt", b"Never kept.", "text/plain"))],
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "upload_rejected", r.text
    assert not (ingested.store / "uploads" / "tagged" / "bad.txt").exists()  # refused before any file is kept


@pytest.fixture
def server(ingested):
    with running(create_api(ingested, engines=scripted_engines(ingested))) as url:
        yield f"{url}/v1"


def test_the_openai_client_works_unchanged(server):
    from openai import OpenAI

    client = OpenAI(base_url=server, api_key="unused", max_retries=0)
    completion = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "red planet?"}])
    assert completion.choices[0].message.content == ANSWER
    assert completion.model_extra["sources"][0]["title"] == "Mars"

    pieces, sources = [], None
    for chunk in client.chat.completions.create(
        model="rag", stream=True, messages=[{"role": "user", "content": "red planet?"}]
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        sources = (chunk.model_extra or {}).get("sources") or sources
    assert "".join(pieces) == ANSWER and sources[0]["title"] == "Mars"
    assert [m.id for m in client.models.list()] == ["rag", "default"]


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(tmp_path, capsys):
    from tests.conftest import run

    code, _, err = run(capsys, "serve", "--host", "0.0.0.0", "--store", str(tmp_path / "s"))
    assert code == 1 and "RAG_API_TOKEN" in err


def test_a_reader_short_answer_and_its_highlight_come_with_the_completion(ingested):
    from tests.rag.test_engine import PointingReader

    def factory(s, name):
        return Engine(
            open_retriever(s, open_collection(s, name)),
            ScriptedLLM([ANSWER]),
            reader=PointingReader("fourth planet"),
            reader_k=5,
        )

    client = TestClient(create_api(ingested, engines=Engines(ingested, factory)))
    body = client.post("/v1/chat/completions", json=ask()).json()
    short = body["short_answer"]
    assert short["text"] == "fourth planet" and short["kind"] == "reader" and "**fourth planet**" in short["highlight"]
    assert short["id"] in {s["id"] for s in body["retrieved"]}
    with client.stream("POST", "/v1/chat/completions", json=ask(stream=True)) as r:
        events = [json.loads(line.removeprefix("data: ")) for line in r.iter_lines() if line and "[DONE]" not in line]
    final = [c for c in events if c["choices"] and c["choices"][0]["finish_reason"] == "stop"][0]
    assert final["short_answer"] == short
    plain = TestClient(create_api(ingested, engines=scripted_engines(ingested)))
    assert plain.post("/v1/chat/completions", json=ask()).json()["short_answer"] is None
