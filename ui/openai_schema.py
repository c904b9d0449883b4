"""OpenAI's API shapes, as the server speaks them: the chat request and its messages, completions and
stream chunks, errors; plus our retrieval request. Routes live in `ui.api`; nothing here handles HTTP.

Responses add our own fields beside OpenAI's (`sources`, `retrieved`, `refused`, `short_answer`), which
OpenAI clients ignore.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Optional, Union

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.answer import Answer, GenerationFailed
from retrievers.filters import Filters, as_filters

from .engines import DEFAULT_MODEL_ID


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: Union[str, list[ContentPart], None] = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """The fields of OpenAI's request that mean something here; the others are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = DEFAULT_MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: Optional[dict[str, Any]] = None
    max_tokens: Optional[int] = Field(None, ge=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    temperature: Optional[float] = Field(None, ge=0, le=2)
    filters: Union[dict[str, Any], list[Any], None] = None  # see RetrieveRequest

    def metadata_filters(self) -> Filters:
        return as_filters(self.filters)

    def llm_options(self) -> dict[str, Any]:
        """The request's generation settings that override the server's (unset ones keep the server's)."""
        options = {"max_tokens": self.max_completion_tokens or self.max_tokens, "temperature": self.temperature}
        return {k: v for k, v in options.items() if v is not None}


class RetrieveRequest(BaseModel):
    query: str = Field(min_length=1)
    collection: Optional[str] = None
    k: int = Field(5, ge=1, le=1000)
    mode: Optional[Literal["dense", "bm25", "hybrid"]] = None
    fusion: Optional[Literal["rrf", "linear", "rsf", "dbsf"]] = None
    # LlamaIndex's MetadataFilters JSON ({"filters": [{"key", "value", "operator"}], "condition": "and"}) or a
    # list of `--where` expressions ("source=docs/*"): only passages that meet them are returned
    filters: Union[dict[str, Any], list[Any], None] = None

    def metadata_filters(self) -> Filters:
        return as_filters(self.filters)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str] = None
    code: Optional[str] = None


class ErrorBody(BaseModel):
    """OpenAI's error shape, which every error of this API takes (validation errors included)."""

    error: ErrorDetail


_ERRORS = {
    400: "Bad input: an invalid collection name, filter or option (the message says which)",
    401: "No API key, or an unknown one, where the server needs one",
    403: "The key may not use this collection for this (read or ingest), or a cross-site request (Origin)",
    404: "No such collection, or no such source in it",
    408: "The request body did not arrive in time",
    409: "A compaction of the collection is already running",
    413: "The body, an upload or one of its files is over its limit",
    415: "An uploaded file's type is not one that can be ingested",
    421: "The Host header names no host this server answers for",
    422: "The request does not match this schema",
    429: "Too many requests for this key; retry after the time in the Retry-After header",
    502: "The answer LLM failed",
    503: "The vector store is unavailable",
}
COMMON_ERRORS = (400, 401, 403, 404, 408, 413, 421, 422, 429, 503)  # what any /v1 route may answer


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses, each in OpenAI's error shape (replacing FastAPI's own 422 body)."""
    return {status: {"model": ErrorBody, "description": _ERRORS[status]} for status in statuses}


def error_response(
    status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def source_dict(s: Any) -> dict:
    return {**s.to_dict(), "text": s.passage.text}


def completion(answer: Answer, model: str, completion_id: str, created: int) -> dict:
    usage = {
        "prompt_tokens": answer.usage.get("prompt_tokens", 0),
        "completion_tokens": answer.usage.get("completion_tokens", 0),
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage,
        "sources": [source_dict(s) for s in answer.cited],
        "retrieved": [source_dict(s) for s in answer.sources],
        "refused": answer.refused,
        **answer.short_answers(),
    }


def failure(failed: GenerationFailed) -> dict:
    """OpenAI's error shape for a model that failed after retrieval, with the passages it would have read."""
    return {
        "error": {"message": str(failed), "type": "server_error", "param": None, "code": "llm_unavailable"},
        "retrieved": [source_dict(s) for s in failed.sources],
        "short_answer": failed.short_answer.to_dict() if failed.short_answer else None,
    }


def chunk(completion_id: str, created: int, model: str, delta: dict, finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The question (the last user message) and the conversation before it (user and assistant turns)."""
    last = max((i for i, m in enumerate(messages) if m.role == "user"), default=None)
    if last is None or not messages[last].text().strip():
        raise HTTPException(422, "the messages hold no user question")
    history = [{"role": m.role, "content": m.text()} for m in messages[:last] if m.role in ("user", "assistant")]
    return messages[last].text(), history
