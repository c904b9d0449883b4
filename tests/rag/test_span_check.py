"""The local LLM's check of the reader's spans, with the real embedded model (SmolLM2-135M, llama.cpp)."""

import math

import pytest

from prompts import PromptSet
from rag.answer.span_check import SpanChecker
from rag.llm import LLM

pytestmark = pytest.mark.slow

PASSAGE = (
    "Eiffel Tower. The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was designed by "
    "the engineer Gustave Eiffel and completed in 1889 for the World's Fair."
)


@pytest.fixture(scope="module")
def checker():
    return SpanChecker(PromptSet.load().check)


def test_each_span_gets_its_mean_log_probability_and_the_stated_answer_beats_a_stray_one(checker):
    # a 135M model is a weak judge ("1889" beats "Paris" for "in which city"): these are cases it gets right
    # by a wide margin, so the test checks the plumbing and that the signal points the right way
    scores = checker("When was the Eiffel Tower completed?", PASSAGE, ["1889", "Paris", "1889"])
    assert len(scores) == 3 and all(math.isfinite(s) and s < 0 for s in scores)
    assert scores[0] == pytest.approx(scores[2])  # the prompt's cache is reused, not corrupted, between spans
    assert scores[0] > scores[1] + 2
    who = checker("Who designed the Eiffel Tower?", PASSAGE, ["Paris", "Gustave Eiffel"])
    assert who[1] > who[0] + 2


def test_a_prompt_longer_than_the_models_context_is_not_checked(checker):
    assert checker("When was it completed?", PASSAGE * 200, ["1889"]) is None
    assert checker("When was it completed?", PASSAGE, []) is None


def test_answering_with_the_same_model_is_unchanged_by_a_check(checker):
    llm = LLM(max_tokens=12)
    messages = [{"role": "user", "content": "Name the capital of France in one word."}]
    before = llm.complete(messages).text
    checker("When was the Eiffel Tower completed?", PASSAGE, ["1889", "Paris"])
    assert llm.complete(messages).text == before


def test_the_checker_is_the_answering_model_when_local_else_the_embedded_one(tmp_path):
    prompt = PromptSet.load().check
    assert SpanChecker.for_llm(prompt, None).model == "smollm2"
    assert SpanChecker.for_llm(prompt, "openai/gpt-4o-mini").model == "smollm2"
    assert SpanChecker.for_llm(prompt, f"local/{tmp_path}/m.gguf").model == f"{tmp_path}/m.gguf"
