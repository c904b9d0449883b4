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

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException  # FastAPI's own subclasses it; routing raises Starlette's

from rag.config import Settings
from retrievers.errors import CollectionNotFound, RagError, StoreUnavailable

from .credentials import Credentials
from .engines import Engines
from .guard import Guard, GuardConfig
from .openai_schema import COMMON_ERRORS, error_response, error_responses
from .routes import chat_router, documents_router
from .routes.access import Services
from .uploads import Limits


def guard_config(settings: Settings, limits: Limits, credentials: Credentials) -> GuardConfig:
    """The front door's settings: body limits per route kind, allowed hosts and origins, the credentials."""
    return GuardConfig(
        json_max_bytes=settings.request_max_kb << 10,
        upload_max_bytes=limits.max_bytes * limits.max_files + (1 << 20),
        allowed_hosts=tuple(settings.allowed_hosts),
        allowed_origins=tuple(settings.allowed_origins),
        authenticate=credentials.authenticate,
        required=credentials.required,
        throttle=credentials.throttle,
        body_seconds=settings.request_body_seconds,
    )


def create_api(
    settings: Settings, *, engines: Engines | None = None, credentials: Credentials | None = None
) -> FastAPI:
    """The API app; `engines` lets tests (and embedders) supply their own engine factory, `credentials`
    share one key store with the UI."""
    engines = engines if engines is not None else Engines(settings)
    credentials = credentials if credentials is not None else Credentials(settings)
    limits = Limits.from_settings(settings)
    app = FastAPI(title="dpr-rag", description=__doc__, docs_url="/docs", redoc_url=None)
    app.state.engines = engines
    app.state.credentials = credentials
    app.state.services = Services(settings, engines, credentials, limits)
    app.state.guard = guard_config(settings, limits, credentials)
    app.add_middleware(Guard, config=app.state.guard)
    _error_handlers(app)
    app.include_router(documents_router, responses=error_responses(*COMMON_ERRORS))
    app.include_router(chat_router, responses=error_responses(*COMMON_ERRORS))
    return app


def _error_handlers(app: FastAPI) -> None:
    """Every error in OpenAI's shape `{"error": {"message", "type", "code"}}`, with its status."""

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
