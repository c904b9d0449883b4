"""Commands of the server: serve (the API and the UI) and keys (its API keys)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from rag.cli.common import settings_from
from rag.cli.options import answer_options, common_options, retrieval_options, setting


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import check_exposure, serve

    settings = settings_from(args)
    check_exposure(settings)
    print(f"serving on http://{settings.host}:{settings.port} (API docs at /docs)", file=sys.stderr)
    serve(settings)
    return 0


def keys_parser(sub: Any) -> None:
    """The `keys` command group: add, list and revoke API keys (rag/access.py)."""
    p = sub.add_parser(
        "keys",
        help="manage API keys per user: add, list, revoke",
        description="API keys with scopes (read, ingest, admin; admin implies the others), for every "
        "collection or some. Only a hash of each key is kept, in STORE/access.sqlite3; "
        "adding and revoking are recorded in the audit log.",
    )
    keys_sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = keys_sub.add_parser("add", help="add a key and print its token (shown once)")
    p.add_argument("name", help="whose key it is")
    p.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        default=[],
        metavar="SCOPE",
        help="read, ingest or admin; repeat it or separate with commas (at least one)",
    )
    p.add_argument(
        "--collection",
        "-c",
        dest="collections",
        action="append",
        metavar="NAME",
        help="a collection the key may use; repeat it for more (default: every collection)",
    )
    setting(p, "store")
    p = keys_sub.add_parser("list", help="list keys (never their secrets)")
    setting(p, "store")
    p.add_argument("--json", action="store_true")
    p = keys_sub.add_parser("revoke", help="revoke a key: its token stops working at once")
    p.add_argument("key_id", metavar="KEY_ID")
    setting(p, "store")


def cmd_keys(args: argparse.Namespace) -> int:
    import getpass

    from rag.access import KeyStore, iso_utc

    settings = settings_from(args)
    try:
        actor = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        actor = f"cli:uid-{os.getuid()}"
    with KeyStore(settings.store) as keys:
        if args.keys_command == "add":
            key_id, token = keys.add(args.name, args.scopes, args.collections or "*", actor=actor)
            info = keys.get(key_id)
            limits = ", ".join(info.collections) if info.collections != "*" else "every collection"
            print(f"added key {key_id} for {info.name}: {', '.join(info.scopes)} on {limits}", file=sys.stderr)
            print(token)
            print("this token is not shown again: keep it now (only its hash is stored)", file=sys.stderr)
        elif args.keys_command == "revoke":
            before = keys.get(args.key_id)
            info = keys.revoke(args.key_id, actor=actor)
            done = "was already revoked" if before is not None and before.revoked is not None else "revoked"
            print(f"key {info.id} ({info.name}) {done} at {iso_utc(info.revoked)}")
        elif args.json:
            print(json.dumps([k.to_dict() for k in keys.list()], indent=2, ensure_ascii=False))
        else:
            rows = [
                {
                    **k.to_dict(),
                    "scopes": ",".join(k.scopes),
                    "collections": k.collections if k.collections == "*" else ",".join(k.collections),
                }
                for k in keys.list()
            ]
            if not rows:
                print(f"no API keys in {settings.store}; add one with `rag keys add NAME --scope read`")
                return 0
            head = {
                "id": "id",
                "name": "name",
                "scopes": "scopes",
                "collections": "collections",
                "created": "created",
                "revoked": "revoked",
                "last_used": "last used",
            }
            widths = {c: max(len(str(r[c] or "-")) for r in [head, *rows]) for c in head}
            for r in [head, *rows]:
                print("  ".join(str(r[c] or "-").ljust(widths[c]) for c in head).rstrip())
    return 0


def serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the OpenAI-compatible HTTP API",
        description="POST /v1/chat/completions (OpenAI-compatible; model = collection), /v1/retrieve, "
        "/v1/ingest, GET /v1/models, /healthz. Listens on 127.0.0.1 unless told otherwise; "
        "any other address needs an API token.",
    )
    common_options(p)
    retrieval_options(p, answers=True)
    answer_options(p)
    setting(p, "host")
    setting(p, "port")
    setting(p, "api_token")
