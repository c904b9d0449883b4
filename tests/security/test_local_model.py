"""The embedded model's lock under stalled, vanished and competing clients (a fake llama.cpp, no weights)."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from prompts import PromptSet
from rag.answer import span_check
from rag.answer.span_check import SpanChecker
from rag.llm import local as llm
from retrievers.errors import RagError

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def thread_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class FakeLlama:
    """Streams `tokens` words, `delay` seconds apart; counts what it produced."""

    metadata: dict = {}  # no chat template: the plain layout

    def __init__(self, tokens: int = 50, delay: float = 0.0) -> None:
        self.tokens, self.delay, self.produced = tokens, delay, 0
        self.input_ids, self.n_tokens = [], 0

    def tokenize(self, data: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(range(len(data.split())))

    def create_completion(self, prompt, stream, **params):
        for i in range(self.tokens):
            time.sleep(self.delay)
            self.produced += 1
            yield {"choices": [{"text": f" w{i}.", "finish_reason": None}]}
        yield {"choices": [{"text": "", "finish_reason": "stop"}]}


@pytest.fixture
def fake(monkeypatch):
    holder = {"llama": FakeLlama(), "lock": threading.Lock()}
    monkeypatch.setattr(llm.LOCAL_MODELS, "get", lambda name: (holder["llama"], holder["lock"]))
    return holder


def generate(timeout: float = 5.0):
    return llm._local_generate("smollm2", [{"role": "user", "content": "hi"}], {"max_tokens": 100}, {}, timeout)


def test_a_stalled_reader_does_not_hold_the_model(fake):
    stalled = generate()
    next(stalled)  # a client that read one piece and then stopped reading, without going away
    start = time.monotonic()
    assert "".join(generate()).strip().startswith("w0.")  # the next answer is not blocked behind it
    assert time.monotonic() - start < 3
    stalled.close()


def test_a_client_that_goes_away_cancels_its_generation(fake):
    fake["llama"] = FakeLlama(tokens=1000, delay=0.01)
    gone = generate()
    next(gone)
    gone.close()
    time.sleep(0.3)
    produced = fake["llama"].produced
    time.sleep(0.3)
    assert fake["llama"].produced == produced < 1000 and not fake["lock"].locked()


def test_a_generation_ends_within_its_timeout(fake):
    fake["llama"] = FakeLlama(tokens=1000, delay=0.01)
    usage: dict = {}
    start = time.monotonic()
    text = "".join(llm._local_generate("smollm2", [{"role": "user", "content": "hi"}], {}, usage, 0.5))
    assert time.monotonic() - start < 3 and usage["finish_reason"] == "length" and text


def test_waiting_for_a_busy_model_is_an_error_not_a_hang(fake):
    fake["lock"].acquire()
    try:
        start = time.monotonic()
        with pytest.raises(RagError, match="busy"):
            list(generate(timeout=0.5))
        assert time.monotonic() - start < 3
    finally:
        fake["lock"].release()


def test_model_errors_reach_the_caller_and_free_the_lock(fake):
    class Broken(FakeLlama):
        def create_completion(self, prompt, stream, **params):
            raise ValueError("llama.cpp failed")
            yield  # pragma: no cover

    fake["llama"] = Broken()
    with pytest.raises(ValueError, match="llama.cpp failed"):
        list(generate())
    assert not fake["lock"].locked()


@linux_only
def test_the_model_generates_at_a_lower_cpu_priority_than_the_requests(fake):
    seen = []

    class Recording(FakeLlama):
        def create_completion(self, prompt, stream, **params):
            seen.append(thread_nice())
            yield from super().create_completion(prompt, stream, **params)

    fake["llama"] = Recording(tokens=3)
    assert "".join(generate()).strip()
    assert seen and seen[0] >= min(19, thread_nice() + llm.GENERATION_NICE) and thread_nice() < seen[0]


class ScoringLlama:
    """Enough of llama.cpp for the span check: it records the priority it computes at, then fails."""

    metadata: dict = {}

    def __init__(self) -> None:
        self.nice: list[int] = []
        self.input_ids, self.n_tokens = [], 0

    def tokenize(self, data: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(range(len(data.split())))

    def token_eos(self) -> int:
        return 0

    def n_ctx(self) -> int:
        return 4096

    def reset(self) -> None:
        pass

    def eval(self, tokens) -> None:
        self.nice.append(thread_nice())
        raise ValueError("llama.cpp failed")


def scoring_checker(monkeypatch, llama, lock):
    monkeypatch.setattr(llm.LOCAL_MODELS, "get", lambda name: (llama, lock))
    checker = SpanChecker(PromptSet.load().check)
    checker._chat = lambda user: user
    return checker


def test_a_span_check_waiting_for_a_busy_model_gives_up_instead_of_hanging(monkeypatch):
    lock = threading.Lock()
    checker = scoring_checker(monkeypatch, ScoringLlama(), lock)
    monkeypatch.setattr(span_check, "LOCAL_TIMEOUT_S", 0.3)
    lock.acquire()
    try:
        start = time.monotonic()
        with pytest.raises(RagError, match="busy"):
            checker("Who?", "A passage.", ["Eiffel"])
        assert time.monotonic() - start < 3
    finally:
        lock.release()


@linux_only
def test_the_span_check_scores_at_a_lower_priority_and_frees_the_model_when_it_fails(monkeypatch):
    llama, lock = ScoringLlama(), threading.Lock()
    checker = scoring_checker(monkeypatch, llama, lock)
    with pytest.raises(ValueError, match="llama.cpp failed"):
        checker("Who?", "A passage.", ["Eiffel"])
    assert llama.nice and llama.nice[0] > thread_nice() and not lock.locked()
