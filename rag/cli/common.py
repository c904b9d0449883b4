"""What every command shares: its settings from the flags, the store's writer check, a report's output."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any, TypeVar

T = TypeVar("T")


def settings_from(args: argparse.Namespace) -> Any:
    """The settings: the config file and `RAG_` environment, overridden by the flags the command was given."""
    from rag.config import Settings

    # every flag named for a field is made by `options.setting` from it (tests/rag/test_cli_options.py)
    overrides = {k: getattr(args, k) for k in Settings.model_fields if getattr(args, k, None) is not None}
    import tomllib

    from retrievers.errors import RagError

    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise RagError(f"the config file (~/.config/rag/config.toml or RAG_CONFIG) is not valid TOML: {exc}") from None


def job_from(job: type[T], args: argparse.Namespace) -> T:
    """A job's typed options (a dataclass of `rag/jobs/`) from the flags of the command that runs it."""
    names = {f.name for f in dataclasses.fields(job)}  # type: ignore[arg-type]
    return job(**{k: v for k, v in vars(args).items() if k in names})


def print_report(report: Any, as_json: bool) -> int:
    """A report's summary (or its JSON); exit status 1 when it did nothing useful."""
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if as_json else report.summary())
    return 0 if report.ok else 1


def check_writable(settings: Any, what: str) -> None:
    """A running `rag serve` is its store's only writer (an embedded Chroma store has one writer)."""
    from rag.store_owner import check_writable

    if settings.chroma_url is None:
        check_writable(settings.store, what)
