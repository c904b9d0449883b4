"""Which process writes a store: while `rag serve` runs it is the only writer, and the CLI's write commands
(ingest, delete, reindex) refuse with a message that points at the server's API instead.

The server records itself in `STORE/server.json` (pid, URL, start time) and removes the record when it
stops; a record whose process is gone (a killed server) is stale: it is removed, with a log line.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from retrievers.errors import RagError

logger = logging.getLogger(__name__)

RECORD = "server.json"


class StoreBusy(RagError):
    """A running server owns the store; writes go through its API."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def running_server(store: Path) -> dict | None:
    """The live server's record for this store, or None (a stale record is removed)."""
    path = Path(store) / RECORD
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        pid = int(record["pid"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring an unreadable %s: %s", path, exc)
        return None
    if pid != os.getpid() and _alive(pid):
        return record
    if pid != os.getpid():
        logger.info("removing the stale server record %s (pid %d is gone)", path, pid)
        path.unlink(missing_ok=True)
    return None


def check_writable(store: Path, what: str) -> None:
    """Refuse a CLI write while a server owns the store."""
    record = running_server(store)
    if record is not None:
        url = record.get("url", "the server")
        raise StoreBusy(
            f"rag serve (pid {record['pid']}, {url}) is using the store {store}: {what} through it "
            f"(POST {url}/v1/ingest, DELETE {url}/v1/collections/NAME/sources, "
            f"POST {url}/v1/collections/NAME/compact, or the UI), "
            "or stop it first"
        )


@contextmanager
def owning(store: Path, url: str) -> Iterator[None]:
    """Record this process as the store's server for the duration of the block."""
    record = running_server(store)
    if record is not None:
        raise StoreBusy(f"another rag serve (pid {record['pid']}, {record.get('url')}) is using the store {store}")
    path = Path(store) / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url, "started": time.time()}), encoding="utf-8")
    os.replace(tmp, path)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
