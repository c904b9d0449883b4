import json

import pytest
from llama_index.core.base.llms.types import CompletionResponse, LLMMetadata
from llama_index.core.llms import CustomLLM

from prompts import load_prompt
from rag.jobs.question_generation import clean_question, generate_pairs
from rag.llm import LLM, litellm_module
from rag.llm.llamaindex import LlamaIndexLLM
from retrievers.errors import RagError
from retrievers.stores import Collection
from retrievers.training import build_examples

from .conftest import run

PROMPT = load_prompt("questions").text


class Scripted(CustomLLM):
    """Answers like a chatty model: a preamble, numbered questions about the passage's first words, a copy."""

    calls: int = 0
    fail_on: list[int] = []  # call numbers (from 1) that raise

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata()

    def complete(self, prompt, formatted=False, **kwargs):
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("model unreachable")
        passage = prompt.split("<passage", 1)[1].split(">\n", 1)[1].split("\n</passage>")[0]
        subject = " ".join(passage.split()[:3])
        copied = " ".join(passage.split()[:6])
        return CompletionResponse(
            text=f"Here are the questions:\n1. What is known about {subject}?\n"
            f"2) Where does {subject} come from?\n{copied}?"
        )

    def stream_complete(self, prompt, formatted=False, **kwargs):
        raise NotImplementedError


@pytest.fixture
def coll(store):
    c = Collection("default", store)
    yield c
    c.close()


def _lines(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_clean_question_strips_numbering_and_rejects_what_is_not_a_question():
    passage = "The Nile flows north through eleven countries."
    assert clean_question("  2) Which way does the Nile flow?", passage) == ("Which way does the Nile flow?", "")
    assert clean_question('- Q1: "How long is the Nile?"', passage)[0] == "How long is the Nile?"
    assert clean_question("Here are the questions:", passage) == (None, "not a question")
    assert clean_question("Nile?", passage) == (None, "too short or long")
    assert clean_question("The Nile flows north?", passage) == (None, "copies the passage")


def test_generated_pairs_are_clean_counted_and_readable_by_train(coll, tmp_path):
    out = tmp_path / "pairs.jsonl"
    report = generate_pairs(coll, Scripted(), out, passages=0, per_passage=1, prompt=PROMPT)
    rows = _lines(out)
    assert report.passages == coll.count() == 5 and report.questions == len(rows) == 5
    assert report.dropped["not a question"] == 5 and report.dropped["copies the passage"] == 0
    passages = coll.get(coll.ids())
    for row in rows:
        assert row["question"].startswith("What is known about ")  # the first good line; numbering gone
        assert row["positive"] == passages[row["passage_id"]].indexed_text
    assert not (tmp_path / "pairs.jsonl.partial").exists()
    examples, data = build_examples(out, None, hard_negatives=1)
    assert data.format == "pairs" and data.examples == 5 and all(len(e.negatives) == 1 for e in examples)


def test_several_questions_per_passage_and_a_sample(coll, tmp_path):
    out = tmp_path / "pairs.jsonl"
    report = generate_pairs(coll, Scripted(), out, passages=2, per_passage=2, prompt=PROMPT, seed=1)
    rows = _lines(out)
    assert report.passages == 2 and len(rows) == 4 and len({r["passage_id"] for r in rows}) == 2
    again = tmp_path / "again.jsonl"
    generate_pairs(coll, Scripted(), again, passages=2, per_passage=2, prompt=PROMPT, seed=1)
    assert _lines(again) == rows  # the seed fixes the sample


def test_a_failing_model_stops_keeps_the_work_and_resume_finishes_it(coll, tmp_path):
    out = tmp_path / "pairs.jsonl"
    flaky = Scripted(fail_on=[1, 3, 4, 5])  # 5 passages: the first failure is skipped, three in a row stop
    with pytest.raises(RagError, match="3 model calls failed in a row.*--resume"):
        generate_pairs(coll, flaky, out, passages=0, prompt=PROMPT)
    partial = tmp_path / "pairs.jsonl.partial"
    assert not out.exists() and len(_lines(partial)) == 1  # only call 2 succeeded
    with open(partial, "a") as fh:
        fh.write('{"question": "torn')  # a crash mid-line
    with pytest.raises(RagError, match="--resume"):
        generate_pairs(coll, Scripted(), out, passages=0, prompt=PROMPT)
    healthy = Scripted()
    report = generate_pairs(coll, healthy, out, passages=0, prompt=PROMPT, resume=True)
    assert healthy.calls == 4 and report.resumed == 1 and report.questions == 4
    rows = _lines(out)
    assert len(rows) == 5 and len({r["passage_id"] for r in rows}) == 5


def test_an_existing_file_is_kept_unless_overwritten(coll, tmp_path):
    out = tmp_path / "pairs.jsonl"
    out.write_text("precious\n")
    with pytest.raises(RagError, match="--overwrite"):
        generate_pairs(coll, Scripted(), out, passages=1, prompt=PROMPT)
    assert out.read_text() == "precious\n"
    generate_pairs(coll, Scripted(), out, passages=1, prompt=PROMPT, overwrite=True)
    assert len(_lines(out)) == 1


@pytest.fixture(scope="module")
def question_provider():
    """A litellm provider `qgen/...` that always writes the same question: the whole CLI path, offline."""
    litellm = litellm_module()
    from litellm import CustomLLM as LiteCustom
    from litellm.types.utils import ModelResponse

    class QGen(LiteCustom):
        def completion(self, model, messages, *args, model_response=None, **kwargs):
            response = model_response or ModelResponse()
            words = messages[-1]["content"].split("<passage", 1)[1].split(">\n", 1)[1].split()
            response.choices[0].message.content = f"1. What is said about {' '.join(words[:4])}?"
            return response

    litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": "qgen", "custom_handler": QGen()}]
    yield "qgen/model"
    litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p["provider"] != "qgen"]


def test_llamaindex_llm_adapter_wraps_any_configured_model(fake_provider):
    llm = LlamaIndexLLM(llm=LLM(fake_provider, max_tokens=32))
    assert llm.complete("hello there").text == "echo: hello there"
    assert "".join(r.delta for r in llm.stream_complete("hi")) == "echo: hi"
    assert llm.metadata.num_output == 32 and llm.metadata.model_name == fake_provider


def test_cli_generates_questions_with_any_litellm_model(store, tmp_path, capsys, question_provider):
    out = tmp_path / "q.jsonl"
    code, stdout, err = run(
        capsys,
        "generate-questions",
        "--out",
        str(out),
        "--store",
        store,
        "--model",
        question_provider,
        "--passages",
        "3",
        "--no-progress",
    )
    assert code == 0, err
    assert "3 questions from 3 passages" in stdout and f"rag train --qa {out}" in stdout
    assert all(r["question"].startswith("What is said about") for r in _lines(out))
    code, _, err = run(capsys, "generate-questions", "--out", str(out), "--store", store, "--model", question_provider)
    assert code == 1 and "--overwrite" in err
    code, _, err = run(
        capsys, "generate-questions", "--out", str(out), "--store", store, "-c", "nothing", "--model", question_provider
    )
    assert code == 1 and "error:" in err and "Traceback" not in err
