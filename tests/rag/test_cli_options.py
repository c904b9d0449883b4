"""The CLI's options come from the settings and the trainers' configs, so each default is written once."""

import argparse
import dataclasses
import re

import pytest

from rag.cli import build_parser
from rag.cli.common import settings_from
from rag.config import Settings
from rag.jobs.options import DPRJob, ReaderJob, RerankerJob
from retrievers.reader.training import ReaderTrainConfig
from retrievers.training.cross_encoder import RerankerConfig
from retrievers.training.trainer import TrainConfig

CONFIGS = {c.__name__: c for c in (DPRJob, ReaderJob, RerankerJob)}


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


@pytest.mark.parametrize(
    "field",
    [
        "top_k",
        "context_k",
        "candidates",
        "rerank_candidates",
        "max_tokens",
        "port",
        "mode",
        "fusion",
        "backend",
        "passage_words",
        "workers",
        "host",
    ],
)
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


def test_the_jobs_take_the_trainers_defaults():
    # a job's own meaning where the name is shared: base None = the collection's encoder (the configured one
    # for the reader); the DPR job's hard_negatives are BM25's alone, the trainer's count the dense ones too
    own = {"base": None, "hard_negatives": None}
    for job, config, pairs in (
        (DPRJob, TrainConfig, {"train_batch_size": "batch_size", **own}),
        (ReaderJob, ReaderTrainConfig, own),
        (RerankerJob, RerankerConfig, {}),
    ):
        trainer = {f.name: f.default for f in dataclasses.fields(config)}
        shared = [f for f in dataclasses.fields(job) if pairs.get(f.name, f.name) in trainer]
        assert len(shared) >= 5
        for f in shared:
            assert f.default == trainer[pairs.get(f.name, f.name)], (job.__name__, f.name)


def test_a_command_gives_its_job_every_option(tmp_path):
    from rag.cli.common import job_from

    args = build_parser().parse_args(["train", "--qa", "q.jsonl", "--epochs", "2", "--batch-size", "8"])
    job = job_from(DPRJob, args)
    assert (job.qa, job.epochs, job.train_batch_size, job.dense_negatives) == ("q.jsonl", 2, 8, 1)
    assert not job.dense_positives
    args = build_parser().parse_args(["train", "--qa", "q.jsonl", "--dense-positives"])
    assert job_from(DPRJob, args).dense_positives
    args = build_parser().parse_args(["train-reranker", "--qa", "q.jsonl", "--out", "o", "--questions-per-step", "4"])
    assert job_from(RerankerJob, args).questions_per_step == 4
    args = build_parser().parse_args(["train-reader", "--qa", "a.jsonl", "b.json", "--cloze", "50"])
    assert (job_from(ReaderJob, args).qa, job_from(ReaderJob, args).cloze) == (["a.jsonl", "b.json"], 50)


def test_a_flag_overrides_the_environment_and_an_unset_flag_does_not(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_FUSION", "rrf")
    args = build_parser().parse_args(["search", "q", "--store", str(tmp_path), "-k", "3"])
    settings = settings_from(args)
    assert (settings.top_k, settings.fusion, settings.store) == (3, "rrf", tmp_path)
    args = build_parser().parse_args(["ask", "q", "--no-reader", "--no-lead", "--no-reader-check"])
    settings = settings_from(args)
    assert (settings.reader, settings.answer_lead, settings.reader_check) == (None, False, False)
