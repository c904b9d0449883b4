"""The `rag` command line, the top of the house: the only part of `rag/` that may reach `eval/` and `ui/`.

One module per kind of command (documents, answers, training, evaluation, serving), each with its parsers
and its commands; `parser.py` puts the parsers together, `options.py` holds options several commands
share. Heavy libraries are imported inside commands, so `rag --help` is instant.
"""

from __future__ import annotations

import sys
from typing import Sequence

from rag.cli import answers, benchmarks, documents, evaluation, serving, training
from rag.cli.common import settings_from
from rag.cli.parser import build_parser

COMMANDS = {
    "bench": benchmarks.cmd_bench,
    "loadtest": benchmarks.cmd_loadtest,
    "ingest": documents.cmd_ingest,
    "encode": documents.cmd_encode,
    "generate-questions": training.cmd_generate_questions,
    "train": training.cmd_train,
    "train-reader": training.cmd_train_reader,
    "train-reranker": training.cmd_train_reranker,
    "package-model": training.cmd_package_model,
    "reindex": documents.cmd_reindex,
    "eval": evaluation.cmd_eval,
    "tune": evaluation.cmd_tune,
    "search": answers.cmd_search,
    "ask": answers.cmd_ask,
    "chat": answers.cmd_chat,
    "serve": serving.cmd_serve,
    "collections": documents.cmd_collections,
    "sources": documents.cmd_sources,
    "delete": documents.cmd_delete,
    "compact": documents.cmd_compact,
    "keys": serving.cmd_keys,
}

__all__ = ["COMMANDS", "build_parser", "main", "settings_from"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if not args.command:
        parser.print_help()
        return 0
    from retrievers.environment import quiet_offline  # importing `retrievers` loads LlamaIndex: not for --help

    quiet_offline()
    from pydantic import ValidationError

    from retrievers.errors import RagError

    try:
        return COMMANDS[args.command](args)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'setting'}: {e['msg']}" for e in exc.errors())
        print(f"error: invalid setting: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the store is consistent and the next run completes the work", file=sys.stderr)
        return 130
