"""Options several commands take (store, retrieval, answers, datasets), each written once.

A flag that sets a `Settings` field is made by `setting`, which takes the field's type, choices, description
and default from `rag/config.py`; a flag that sets a training hyper-parameter is made by `config_option` from
the config dataclass's field. So a default is written in one place, and `--help` always tells the truth.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal


def _shown(value: Any) -> str:
    home = str(Path.home())
    text = str(value)
    return "~" + text[len(home) :] if text.startswith(home + "/") else text


def _typed(annotation: Any, kwargs: dict) -> None:
    """argparse's `type` and `choices` from a field's annotation (Optional unwrapped)."""
    if isinstance(annotation, str):
        annotation = {"int": int, "float": float, "str": str, "bool": bool}.get(annotation.split(" |")[0], str)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is Literal:
        kwargs.setdefault("choices", list(typing.get_args(annotation)))
        return
    if args and typing.get_origin(annotation) is not Literal and len(args) == 1:
        annotation = args[0]
        if typing.get_origin(annotation) is Literal:
            kwargs.setdefault("choices", list(typing.get_args(annotation)))
            return
    if annotation in (int, float):
        kwargs.setdefault("type", annotation)


def _add(
    parser: argparse.ArgumentParser,
    flags: tuple[str, ...],
    name: str,
    text: str,
    shown: str | None,
    env: str | None,
    kwargs: dict,
    source: str,
) -> argparse.Action:
    notes = "; ".join(n for n in (f"env {env}" if env else "", f"default {shown}" if shown else "") if n)
    kwargs.setdefault("dest", name)
    action = parser.add_argument(
        *(flags or (f"--{name.replace('_', '-')}",)),
        help=f"{text} ({notes})".replace("%", "%%") if notes else text.replace("%", "%%"),
        **kwargs,
    )
    action.source = source  # type: ignore[attr-defined]  # checked by tests/rag/test_cli_options.py
    return action


def setting(
    parser: argparse.ArgumentParser,
    field: str,
    *flags: str,
    help: str | None = None,
    default: str | None = None,
    **kwargs: Any,
) -> argparse.Action:
    """A flag for the `Settings` field `field` (`--field-name` unless `flags` are given): the flag's value
    overrides the config file and `RAG_` environment. Help, type, choices and default come from the field;
    `help` replaces the field's description and `default` the way its default is shown (e.g. when unset
    means something)."""
    from rag.config import Settings

    info = Settings.model_fields[field]
    if "action" not in kwargs:
        _typed(info.annotation, kwargs)
    kwargs.setdefault("default", None)  # None: the settings decide
    if default is None:
        value = info.get_default(call_default_factory=True)
        default = None if value is None or value is False or value == [] else _shown(value)
    text = help or info.description or field.replace("_", " ")
    return _add(parser, flags, field, text, default, f"RAG_{field.upper()}", kwargs, f"Settings.{field}")


def config_option(
    parser: argparse.ArgumentParser, config: type, field: str, *flags: str, help: str, **kwargs: Any
) -> argparse.Action:
    """A flag for the field `field` of the dataclass `config` (a trainer's hyper-parameters): its default is
    the dataclass's, shown in the help."""
    info = {f.name: f for f in dataclasses.fields(config)}[field]
    value = info.default if info.default is not dataclasses.MISSING else None
    if "action" not in kwargs:
        _typed(info.type, kwargs)
    kwargs.setdefault("default", value)
    shown = None if value is None or isinstance(value, bool) else _shown(value)
    return _add(parser, flags, field, help, shown, None, kwargs, f"{config.__name__}.{field}")


def common_options(parser: argparse.ArgumentParser) -> None:
    setting(parser, "store")
    setting(
        parser,
        "chroma_url",
        help="Chroma server URL, e.g. http://127.0.0.1:8000",
        default="embedded Chroma in the store",
    )
    setting(parser, "collection", "--collection", "-c")
    backend_option(parser)


def backend_option(parser: argparse.ArgumentParser) -> None:
    setting(parser, "backend")


def workers_option(parser: argparse.ArgumentParser) -> None:
    setting(parser, "workers")


def retrieval_options(parser: argparse.ArgumentParser, answers: bool = False) -> None:
    setting(parser, "mode")
    if answers:
        setting(parser, "context_k", "-k", "--top-k")
    else:
        setting(parser, "top_k", "-k", "--top-k")
    setting(parser, "fusion")
    setting(parser, "dense_weight")
    setting(parser, "candidates")
    setting(parser, "encoder", help="question encoder", default="the one the collection was built with")
    setting(parser, "reranker", "--rerank", metavar="RERANKER")
    setting(parser, "rerank_candidates")
    parser.add_argument(
        "--where",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="only passages whose metadata meets this (repeatable, all must hold): "
        "'source=docs/*', 'type=pdf', 'page<=3', 'year>=2020', 'lang!=de'; see docs/filters.md",
    )


def answer_options(parser: argparse.ArgumentParser) -> None:
    setting(
        parser,
        "model",
        help="LLM as a litellm model string, e.g. openai/gpt-4o-mini, ollama/llama3.1",
        default="the embedded local/smollm2",
    )
    setting(parser, "api_base")
    setting(parser, "max_tokens")
    setting(parser, "prompt_sentences")
    setting(parser, "prompts_dir")
    setting(parser, "reader", metavar="DIR")
    parser.add_argument(
        "--no-reader",
        dest="reader",
        action="store_const",
        const="none",
        help="no reader (and so no span check, lead span or abstention)",
    ).source = "Settings.reader"
    setting(parser, "answer_lead", "--lead", action=argparse.BooleanOptionalAction, default="on for the embedded model")
    setting(parser, "reader_hint", action="store_true")
    setting(
        parser,
        "reader_check",
        "--no-reader-check",
        action="store_false",
        help="keep the reader's own best span, without the local LLM's check of its best spans",
    )


def dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        metavar="FORMAT:PATH",
        help="nq-open:FILE.jsonl, squad:FILE.json (SQuAD 1.1/2.0, XQuAD), beir:FOLDER, "
        "llamaindex:FILE.json (LabelledRagDataset); the FORMAT: prefix may be left out",
    )
    parser.add_argument("--qa", metavar="FILE", help="same as --dataset nq-open:FILE")
    parser.add_argument("--split", help="BEIR qrels split (default test, else dev)")
    common_options(parser)
    parser.add_argument(
        "--distractors",
        metavar="NAME",
        help="with a dataset's own documents: also search this collection's passages, as distractors",
    )
    parser.add_argument("--limit", type=int, help="only the first N questions (a quick look)")
    parser.add_argument("--report", metavar="DIR", help="write report.md, per-question results.jsonl and PNG plots")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
