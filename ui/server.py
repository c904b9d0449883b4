"""`rag serve`: the chat UI and the API on one uvicorn server, refused when exposed without a token."""

from __future__ import annotations

import ipaddress

from rag.config import Settings
from rag.heap import bound_heap
from rag.store_owner import owning
from retrievers.errors import RagError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Listening beyond this machine needs a token: anyone who can reach the port could read the documents."""
    if not is_loopback(settings.host) and not settings.api_token:
        raise RagError(
            f"refusing to listen on {settings.host} without an API token: set RAG_API_TOKEN "
            "(or --api-token), or keep the default --host 127.0.0.1"
        )


def serve(settings: Settings) -> None:
    import uvicorn

    from .api import create_api
    from .app import mount_ui
    from .backend import Backend
    from .engines import Engines

    check_exposure(settings)
    bound_heap()  # before any thread starts: memory freed after concurrent chats goes back to the system
    engines = Engines(settings)  # one set of loaded models for the API and the UI
    api = create_api(settings, engines=engines)
    app = mount_ui(api, settings, Backend(settings, engines=engines, audit=api.state.credentials.audit))
    with owning(settings.store, f"http://{settings.host}:{settings.port}"):  # the CLI's writes now go through us
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
