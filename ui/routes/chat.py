"""`/v1/chat/completions` in OpenAI's shape (a JSON reply, or server-sent events when `stream`), and
`/v1/models`, whose ids are the collections a key may read."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rag.answer import GenerationFailed
from retrievers.errors import RagError
from retrievers.stores import list_collections

from ..engines import DEFAULT_MODEL_ID
from ..openai_schema import ChatRequest, chunk, completion, error_responses, failure, split_messages
from .access import allow, authorized, principal, services

router = APIRouter(dependencies=[Depends(authorized)])


@router.get("/v1/models")
def models(request: Request) -> dict:
    who = principal(request)
    names = [
        DEFAULT_MODEL_ID,
        *(n for n in list_collections(services(request).settings.store) if who.allows("read", n)),
    ]
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "dpr-rag"} for n in names],
    }


@router.post("/v1/chat/completions", responses=error_responses(502))
def chat_completions(body: ChatRequest, request: Request) -> Any:
    engines = services(request).engines
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
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    events = _events(engine.stream(question, history, filters), body.model, completion_id, created, include_usage)
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _events(stream: Any, model: str, completion_id: str, created: int, include_usage: bool) -> Iterator[str]:
    """The streamed reply: the role, the answer's pieces, a last chunk with the sources, [DONE]; a failure is
    said in the stream (with the passages when the model failed), since the status was already 200."""
    yield chunk(completion_id, created, model, {"role": "assistant", "content": ""})
    try:
        for piece in stream:
            yield chunk(completion_id, created, model, {"content": piece})
        answer = stream.finish()
    except GenerationFailed as failed:
        yield f"data: {json.dumps(failure(failed), ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"
        return
    except RagError as exc:
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
        yield "data: [DONE]\n\n"
        return
    final = completion(answer, model, completion_id, created)
    yield chunk(
        completion_id,
        created,
        model,
        {},
        "stop",
        sources=final["sources"],
        refused=answer.refused,
        short_answer=final["short_answer"],
        grounded_answer=final["grounded_answer"],
    )
    if include_usage:
        usage = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": final["usage"],
        }
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"
