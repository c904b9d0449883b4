"""The HTTP API: OpenAI-compatible chat completions, retrieval, ingestion and a health check.

`POST /v1/chat/completions` speaks the OpenAI chat API (streaming as server-sent events), so the
official `openai` client works unchanged; `model` names the collection to chat with (`rag` = the
default one) and each response carries the cited passages in an extra `sources` field.
`POST /v1/retrieve` returns passages only; `POST /v1/ingest` takes file uploads;
`GET`/`DELETE /v1/collections/NAME/sources[?source=S]` list a collection's sources and delete one. With an API token
configured (or keys from `rag keys`), every `/v1` route needs `Authorization: Bearer KEY`, checked with
the Host, Origin and body limits by `ui.guard` before a byte of the body is read.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any, Iterator, Optional

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from rag.config import Settings
from rag.engine import GenerationFailed
from rag.retrieval import resolve_collection
from rag.sources import SourceNotFound, delete_source, list_sources
from retrievers.errors import CollectionNotFound, RagError, StoreUnavailable
from retrievers.stores import list_collections

from .credentials import Credentials, actor
from .engines import DEFAULT_MODEL_ID, Engines
from .guard import ANONYMOUS, Guard, GuardConfig
from .openai_schema import (
    ChatRequest,
    RetrieveRequest,
    chunk,
    completion,
    error_response,
    failure,
    split_messages,
)
from .uploads import Limits, UploadRejected, upload_and_ingest


def guard_config(settings: Settings, limits: Limits, credentials: Credentials) -> GuardConfig:
    """The front door's settings: body limits per route kind, allowed hosts and origins, the credentials."""
    return GuardConfig(json_max_bytes=settings.request_max_kb << 10,
                       upload_max_bytes=limits.max_bytes * limits.max_files + (1 << 20),
                       allowed_hosts=tuple(settings.allowed_hosts), allowed_origins=tuple(settings.allowed_origins),
                       authenticate=credentials.authenticate, required=credentials.required,
                       throttle=credentials.throttle, body_seconds=settings.request_body_seconds)


def create_api(settings: Settings, *, engines: Engines | None = None,
               credentials: Credentials | None = None) -> FastAPI:
    """The API app; `engines` lets tests (and embedders) supply their own engine factory, `credentials`
    share one key store with the UI."""
    engines = engines if engines is not None else Engines(settings)
    limits = Limits.from_settings(settings)
    app = FastAPI(title="dpr-rag", description=__doc__, docs_url="/docs", redoc_url=None)
    app.state.engines = engines

    credentials = credentials if credentials is not None else Credentials(settings)
    app.state.credentials = credentials
    app.state.guard = guard_config(settings, limits, credentials)
    app.add_middleware(Guard, config=app.state.guard)

    def principal(request: Request) -> Any:
        """Who the guard authenticated this request as (anonymous on a loopback server without credentials)."""
        return getattr(request.state, "principal", None) or ANONYMOUS

    def allow(request: Request, scope: str, collection: str) -> Any:
        who = principal(request)
        if not who.allows(scope, collection):
            raise HTTPException(403, f"this key may not {scope} collection {collection!r}")
        return who

    def authorized(request: Request) -> None:
        scopes = principal(request).scopes
        if "read" not in scopes and "admin" not in scopes:
            raise HTTPException(403, "this key may not read")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {401: "authentication_error", 403: "permission_error"}.get(exc.status_code, "invalid_request_error")
        return error_response(exc.status_code, str(exc.detail), kind)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        return error_response(422, f"invalid request: {problems}")

    @app.exception_handler(CollectionNotFound)
    async def no_collection(request: Request, exc: CollectionNotFound) -> JSONResponse:
        return error_response(404, str(exc), code="model_not_found")

    @app.exception_handler(StoreUnavailable)
    async def store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return error_response(503, str(exc), "server_error", code="store_unavailable")

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "collections": list_collections(settings.store),
                "llm": settings.model or "local/smollm2"}

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    def models(request: Request) -> dict:
        who = principal(request)
        names = [DEFAULT_MODEL_ID, *(n for n in list_collections(settings.store) if who.allows("read", n))]
        return {"object": "list", "data": [{"id": n, "object": "model", "created": 0, "owned_by": "dpr-rag"}
                                           for n in names]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)])
    def chat_completions(body: ChatRequest, request: Request) -> Any:
        question, history = split_messages(body.messages)
        allow(request, "read", engines.collection_for(body.model))
        engine = engines.get(body.model, **body.llm_options())
        engine.check_question(question)  # a streamed reply would already have said 200
        filters = body.metadata_filters()  # a bad filter, too
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if not body.stream:
            try:
                return completion(engine.ask(question, history, filters), body.model, completion_id, created)
            except GenerationFailed as failed:
                return JSONResponse(failure(failed), status_code=502)
        stream = engine.stream(question, history, filters)
        include_usage = bool((body.stream_options or {}).get("include_usage"))

        def events() -> Iterator[str]:
            yield chunk(completion_id, created, body.model, {"role": "assistant", "content": ""})
            try:
                for piece in stream:
                    yield chunk(completion_id, created, body.model, {"content": piece})
                answer = stream.finish()
            except GenerationFailed as failed:  # the model failed: say so in the stream, with the passages, then end it
                yield f"data: {json.dumps(failure(failed), ensure_ascii=False)}\n\n"
                yield "data: [DONE]\n\n"
                return
            except RagError as exc:
                yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
                yield "data: [DONE]\n\n"
                return
            final = completion(answer, body.model, completion_id, created)
            yield chunk(completion_id, created, body.model, {}, "stop", sources=final["sources"],
                         refused=answer.refused, short_answer=final["short_answer"],
                         grounded_answer=final["grounded_answer"])
            if include_usage:
                usage = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                         "model": body.model, "choices": [], "usage": final["usage"]}
                yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/retrieve", dependencies=[Depends(authorized)])
    def retrieve(body: RetrieveRequest, request: Request) -> dict:
        name = resolve_collection(settings, body.collection)
        allow(request, "read", name)
        options = {k: v for k, v in {"mode": body.mode, "fusion": body.fusion}.items() if v}
        filters = body.metadata_filters()
        hits = engines.get(name, **options).search(body.query, body.k, filters)  # the chat's retriever, loaded once
        return {"object": "list", "collection": name, "mode": body.mode or settings.mode,
                "filters": filters.to_dict() if filters else None,
                "data": [{"id": p.id, "score": round(float(s), 6), "title": p.title, "source": p.source,
                          "text": p.text, "position": p.position, "metadata": dict(p.extra)} for p, s in hits]}

    @app.post("/v1/ingest")
    def ingest_files(request: Request, files: list[UploadFile] = File(...),
                     collection: Optional[str] = Form(None),
                     meta: Annotated[Optional[list[str]], Form()] = None) -> Any:
        name = resolve_collection(settings, collection or settings.collection or "default")
        who = allow(request, "ingest", name)
        try:
            done = upload_and_ingest(settings, [(f.filename or "", f.file) for f in files], name, engines=engines,
                                     record=credentials.audit.record, actor=actor(who), limits=limits, meta=meta or ())
        except UploadRejected as exc:
            return error_response(exc.status, str(exc), code="upload_rejected")
        return {"collection": done.collection, "files": done.files, **done.report.to_dict()}

    @app.get("/v1/collections/{name}/sources")
    def sources(name: str, request: Request) -> dict:
        name = resolve_collection(settings, name)
        allow(request, "read", name)
        return {"object": "list", "collection": name, "data": [i.to_dict() for i in list_sources(settings, name)]}

    @app.delete("/v1/collections/{name}/sources")
    def delete_sources(name: str, source: str, request: Request) -> Any:
        name = resolve_collection(settings, name)
        who = allow(request, "ingest", name)
        try:
            removed = delete_source(settings, name, source)
        except SourceNotFound as exc:
            return error_response(404, str(exc), code="source_not_found")
        engines.forget(name)
        credentials.audit.record(actor(who), "delete", name, f"source={source} removed={removed}")
        return {"collection": name, "source": source, "removed": removed}

    return app
