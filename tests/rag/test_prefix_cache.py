"""The local model's kept prompt beginnings (`rag.llm.prefix_cache`), with the real embedded model: a prompt
that starts from a saved state reads fewer tokens and decodes exactly as an uncached run."""

import logging

import numpy as np
import pytest

from prompts import PromptSet
from rag.answer.span_check import _last_logits
from rag.llm import LOCAL_MODELS
from rag.llm.chat_template import chat_tokens
from rag.llm.local import _local_generate
from rag.llm.prefix_cache import FRESH_TAIL, PrefixCache

pytestmark = pytest.mark.slow

CASES = [
    ("Who painted La Grande Jatte?", "[1] Georges Seurat painted A Sunday Afternoon on the Island of La Grande Jatte."),
    ("When did World War II end?", "[1] World War II ended in 1945 with the surrender of Japan."),
    ("Who wrote Hamlet?", "[1] Hamlet is a tragedy written by William Shakespeare."),
    ("What is the largest planet?", "[1] Jupiter is the largest planet in the Solar System."),
]


def messages(question: str, context: str) -> list[dict]:
    prompts = PromptSet.load()
    return [
        {"role": "system", "content": prompts.system.format(refusal=prompts.refusal.text)},
        {"role": "user", "content": prompts.qa.format(context=context, question=question)},
    ]


@pytest.fixture
def llama(monkeypatch):
    model, _ = LOCAL_MODELS.get("smollm2")
    yield model
    LOCAL_MODELS._extras.pop(model, None)  # later tests start with a cache of their own


def clobber(llama) -> None:
    """Another prompt in the model, as the span check leaves it between answers."""
    llama.reset()
    llama.eval(llama.tokenize(b"Answer the question with a short phrase copied from the passage.", add_bos=False))


def tokens(llama, question: str, context: str) -> list[int]:
    return chat_tokens(llama, LOCAL_MODELS.formatter(llama), messages(question, context))[0]


def test_the_shared_beginning_is_saved_once_and_loaded_with_the_same_logits(llama):
    first, second, third = (tokens(llama, q, c) for q, c in CASES[:3])
    llama.reset()
    llama.eval(third)
    uncached = _last_logits(llama)

    cache = PrefixCache()
    for prompt in (first, second):
        clobber(llama)
        held = cache.prepare(llama, prompt)
        llama.eval(prompt[held:])
    (key,) = cache._states  # the system prompt and the answer prompt's header, shared by the two
    assert 24 <= len(key) < min(len(first), len(second)) and list(key) == second[: len(key)]
    clobber(llama)
    held = cache.prepare(llama, third)
    assert held == len(key) and cache.hits == 1 and llama.n_tokens == held
    llama.eval(third[held:])
    assert np.array_equal(_last_logits(llama), uncached)


def test_answers_from_the_kept_prefix_are_those_of_uncached_runs(llama):
    LOCAL_MODELS._extras[llama] = (LOCAL_MODELS.formatter(llama), PrefixCache(min_tokens=10**6))  # saves nothing
    uncached = []
    for question, context in CASES:
        llama.reset()
        uncached.append("".join(_local_generate("smollm2", messages(question, context), {"max_tokens": 24}, {})))
    cache = PrefixCache()
    LOCAL_MODELS._extras[llama] = (LOCAL_MODELS.formatter(llama), cache)
    for (question, context), expected in zip(CASES + CASES[:1], uncached + uncached[:1]):  # the first one twice
        clobber(llama)
        assert "".join(_local_generate("smollm2", messages(question, context), {"max_tokens": 24}, {})) == expected
    assert cache.hits >= 3


def test_a_repeated_prompt_still_evaluates_its_last_tokens_together(llama):
    prompt = tokens(llama, *CASES[0])
    cache = PrefixCache()
    for _ in range(3):
        held = cache.prepare(llama, prompt)
        assert held <= len(prompt) - FRESH_TAIL
        llama.eval(prompt[held:])


def test_saved_states_stay_within_their_memory_bound(llama):
    cache = PrefixCache(max_bytes=4 * 2**20)  # SmolLM2 keeps about 23 KB a token: room for one prefix
    for question, context in CASES * 2:
        clobber(llama)
        cache.prepare(llama, tokens(llama, question, context + " " + question * 3))
        assert cache.size_bytes <= 4 * 2**20
    assert cache._states


def test_a_state_that_does_not_load_is_dropped_and_the_prompt_read_from_the_start(llama, caplog):
    first, second, third = (tokens(llama, q, c) for q, c in CASES[:3])
    cache = PrefixCache()
    for prompt in (first, second):
        clobber(llama)
        cache.prepare(llama, prompt)
    (key,) = cache._states
    cache._states[key] = b"\x00" * 16  # a state llama.cpp refuses
    llama.reset()
    llama.eval(third)
    uncached = _last_logits(llama)
    llama.reset()
    llama.eval(third[:10])  # the model holds a little of the prompt, less than the saved state
    with caplog.at_level(logging.WARNING, logger="rag.llm.prefix_cache"):
        held = cache.prepare(llama, third)
    assert "did not load" in caplog.text
    assert cache._states.get(key) != b"\x00" * 16  # dropped, and saved again from the prompt read afresh
    llama.eval(third[held:])  # still the whole prompt, read again
    assert llama.n_tokens == len(third) and np.array_equal(_last_logits(llama), uncached)
