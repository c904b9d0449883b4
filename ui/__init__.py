"""Serving: the OpenAI-compatible HTTP API (`create_api`) and `rag serve`."""

from .api import Engines, create_api
from .server import check_exposure, serve

__all__ = ["Engines", "check_exposure", "create_api", "serve"]
