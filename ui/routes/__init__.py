"""The API's routes, by what they serve; each router reads the app's shared parts from `request.app.state`
(`access.Services`).

    access.py      who the request is (the guard's principal) and what it may do
    chat.py        /v1/chat/completions (OpenAI's shape, streamed as server-sent events), /v1/models
    documents.py   /v1/retrieve, /v1/ingest, /v1/collections/NAME/sources, /healthz
"""

from .chat import router as chat_router
from .documents import router as documents_router

__all__ = ["chat_router", "documents_router"]
