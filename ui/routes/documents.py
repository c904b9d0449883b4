"""The document routes: `/v1/retrieve` (passages only), `/v1/ingest` (uploads, through the one
upload-and-ingest service), a collection's sources (listed, one deleted), its compaction and `/healthz`."""

from __future__ import annotations

import threading
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile

from rag.documents.compaction import compact
from rag.documents.sources import SourceNotFound, delete_source, list_sources
from rag.retrieval import resolve_collection
from retrievers.stores import COLLECTION_NAME_PATTERN, list_collections

from ..credentials import actor
from ..openai_schema import RetrieveRequest, error_response, error_responses
from ..uploads import UploadRejected, upload_and_ingest
from .access import allow, authorized, services

router = APIRouter()

# The name's rule is shown in the schema but checked by the store, whose 400 says what a name may hold.
CollectionName = Annotated[
    str,
    Path(
        description="a collection's name (`rag` = the server's default collection)",
        json_schema_extra={"pattern": COLLECTION_NAME_PATTERN, "minLength": 3, "maxLength": 200},
    ),
]


@router.get("/healthz")
def healthz(request: Request) -> dict:
    settings = services(request).settings
    return {"status": "ok", "collections": list_collections(settings.store), "llm": settings.model or "local/smollm2"}


@router.post("/v1/retrieve", dependencies=[Depends(authorized)])
def retrieve(body: RetrieveRequest, request: Request) -> dict:
    ctx = services(request)
    name = resolve_collection(ctx.settings, body.collection)
    allow(request, "read", name)
    options = {k: v for k, v in {"mode": body.mode, "fusion": body.fusion}.items() if v}
    filters = body.metadata_filters()
    hits = ctx.engines.get(name, **options).search(body.query, body.k, filters)  # the chat's retriever, loaded once
    return {
        "object": "list",
        "collection": name,
        "mode": body.mode or ctx.settings.mode,
        "filters": filters.to_dict() if filters else None,
        "data": [
            {
                "id": p.id,
                "score": round(float(s), 6),
                "title": p.title,
                "source": p.source,
                "text": p.text,
                "position": p.position,
                "metadata": dict(p.extra),
            }
            for p, s in hits
        ],
    }


@router.post("/v1/ingest", responses=error_responses(415))
def ingest_files(
    request: Request,
    files: list[UploadFile] = File(...),
    collection: Optional[str] = Form(None),
    meta: Annotated[Optional[list[str]], Form()] = None,
) -> Any:
    ctx = services(request)
    name = resolve_collection(ctx.settings, collection or ctx.settings.collection or "default")
    who = allow(request, "ingest", name)
    try:
        done = upload_and_ingest(
            ctx.settings,
            [(f.filename or "", f.file) for f in files],
            name,
            engines=ctx.engines,
            record=ctx.credentials.audit.record,
            actor=actor(who),
            limits=ctx.limits,
            meta=meta or (),
        )
    except UploadRejected as exc:
        return error_response(exc.status, str(exc), code="upload_rejected")
    return {"collection": done.collection, "files": done.files, **done.report.to_dict()}


@router.get("/v1/collections/{name}/sources")
def sources(name: CollectionName, request: Request) -> dict:
    settings = services(request).settings
    name = resolve_collection(settings, name)
    allow(request, "read", name)
    return {"object": "list", "collection": name, "data": [i.to_dict() for i in list_sources(settings, name)]}


@router.delete("/v1/collections/{name}/sources")
def delete_sources(name: CollectionName, source: str, request: Request) -> Any:
    ctx = services(request)
    name = resolve_collection(ctx.settings, name)
    who = allow(request, "ingest", name)
    try:
        done = delete_source(ctx.settings, name, source)
    except SourceNotFound as exc:
        return error_response(404, str(exc), code="source_not_found")
    ctx.engines.forget(name)
    ctx.credentials.audit.record(actor(who), "delete", name, f"source={source} removed={done.removed}")
    return {"collection": name, "source": source, "removed": done.removed, "advice": done.advice}


_compacting = threading.Lock()  # one compaction at a time: each rebuilds a collection's index


@router.post("/v1/collections/{name}/compact", responses=error_responses(409))
def compact_collection(name: CollectionName, request: Request) -> Any:
    """Give back what deletions left in the collection's index and files (`rag compact`); searches go on."""
    ctx = services(request)
    name = resolve_collection(ctx.settings, name)
    who = allow(request, "ingest", name)
    if not _compacting.acquire(blocking=False):
        return error_response(409, "a compaction is already running; try again when it is done", code="busy")
    try:
        done = compact(ctx.settings, name)
    finally:
        _compacting.release()
    ctx.engines.forget(name)
    ctx.credentials.audit.record(actor(who), "compact", name, f"{done.store_mb_before} -> {done.store_mb_after} MB")
    return done.to_dict()
