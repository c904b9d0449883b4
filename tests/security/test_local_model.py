"""The embedded model's lock under stalled, vanished and competing clients (a fake llama.cpp, no weights)."""

from __future__ import annotations

import threading
import time

import pytest

from rag import llm
from retrievers.errors import RagError


class FakeLlama:
    """Streams `tokens` words, `delay` seconds apart; counts what it produced."""

    def __init__(self, tokens: int = 50, delay: float = 0.0) -> None:
        self.tokens, self.delay, self.produced = tokens, delay, 0

    def tokenize(self, data: bytes, add_bos: bool = False) -> list[int]:
        return list(range(len(data.split())))

    def create_chat_completion(self, messages, stream, **params):
        for i in range(self.tokens):
            time.sleep(self.delay)
            self.produced += 1
            yield {"choices": [{"delta": {"content": f" w{i}."}, "finish_reason": None}]}
        yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}


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
        def create_chat_completion(self, messages, stream, **params):
            raise ValueError("llama.cpp failed")
            yield  # pragma: no cover

    fake["llama"] = Broken()
    with pytest.raises(ValueError, match="llama.cpp failed"):
        list(generate())
    assert not fake["lock"].locked()
