"""Serving: the OpenAI-compatible HTTP API (`create_api`) and `rag serve`."""

from .api import create_api
from .engines import Engines
from .server import check_exposure, serve

__all__ = ["Engines", "check_exposure", "create_api", "serve"]
