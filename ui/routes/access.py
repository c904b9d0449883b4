"""What the routes share: the app's services, and the guard's principal with the checks of its scopes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from rag.config import Settings

from ..credentials import Credentials
from ..engines import Engines
from ..guard import ANONYMOUS
from ..uploads import Limits


@dataclass(frozen=True)
class Services:
    """The parts of one API app every route uses, kept on `app.state.services`."""

    settings: Settings
    engines: Engines
    credentials: Credentials
    limits: Limits


def services(request: Request) -> Services:
    return request.app.state.services


def principal(request: Request) -> Any:
    """Who the guard authenticated this request as (anonymous on a loopback server without credentials)."""
    return getattr(request.state, "principal", None) or ANONYMOUS


def allow(request: Request, scope: str, collection: str) -> Any:
    """The principal, if it may `scope` ("read", "ingest") the collection; else 403."""
    who = principal(request)
    if not who.allows(scope, collection):
        raise HTTPException(403, f"this key may not {scope} collection {collection!r}")
    return who


def authorized(request: Request) -> None:
    """A dependency of the read routes: the key may read something."""
    scopes = principal(request).scopes
    if "read" not in scopes and "admin" not in scopes:
        raise HTTPException(403, "this key may not read")
