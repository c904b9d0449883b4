"""The CLI's options come from the settings and the trainers' configs, so each default is written once."""

import argparse
import dataclasses
import re

import pytest

from rag.cli import build_parser
from rag.cli.common import settings_from
from rag.config import Settings
from retrievers.reader.training import ReaderTrainConfig
from retrievers.training.cross_encoder import RerankerConfig
from retrievers.training.trainer import TrainConfig

CONFIGS = {c.__name__: c for c in (TrainConfig, ReaderTrainConfig, RerankerConfig)}


def commands():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices.items()


def stated_default(action) -> str | None:
    found = re.search(r"default ([^;)]+)\)$", " ".join((action.help or "").split()))
    return found[1] if found else None


def test_every_flag_that_sets_a_setting_is_made_from_its_field():
    checked = 0
    for name, parser in commands():
        for action in parser._actions:
            if action.dest in Settings.model_fields:
                assert getattr(action, "source", None) == f"Settings.{action.dest}", (name, action.option_strings)
                assert action.default in (None, argparse.SUPPRESS), (name, action.option_strings)  # settings decide
                checked += 1
    assert checked > 100


@pytest.mark.parametrize("field", ["top_k", "context_k", "candidates", "rerank_candidates", "max_tokens", "port",
                                   "mode", "fusion", "backend", "passage_words", "workers", "host"])
def test_the_help_states_the_settings_own_default(field):
    default = Settings.model_fields[field].default
    actions = [a for _, p in commands() for a in p._actions if a.dest == field and a.option_strings[0] != "--no-reader"]
    assert actions
    for action in actions:
        assert stated_default(action) == str(default), (field, action.help)
        assert f"RAG_{field.upper()}" in action.help


def test_trainer_flags_take_the_configs_defaults():
    checked = 0
    for name, parser in commands():
        for action in parser._actions:
            source = getattr(action, "source", "")
            if source.split(".")[0] in CONFIGS:
                config, field = source.split(".")
                value = {f.name: f.default for f in dataclasses.fields(CONFIGS[config])}[field]
                assert action.default == value, (name, action.option_strings)
                if not isinstance(value, bool):
                    assert stated_default(action) == str(value), (name, action.help)
                checked += 1
    assert checked >= 20


def test_a_flag_overrides_the_environment_and_an_unset_flag_does_not(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_FUSION", "rrf")
    args = build_parser().parse_args(["search", "q", "--store", str(tmp_path), "-k", "3"])
    settings = settings_from(args)
    assert (settings.top_k, settings.fusion, settings.store) == (3, "rrf", tmp_path)
    args = build_parser().parse_args(["ask", "q", "--no-reader", "--no-lead", "--no-reader-check"])
    settings = settings_from(args)
    assert (settings.reader, settings.answer_lead, settings.reader_check) == (None, False, False)
