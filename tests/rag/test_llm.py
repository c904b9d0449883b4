"""The litellm path: a fake provider registered like our local one, and the errors users see."""

import socket

import pytest

from rag.llm import LLM, Generation, resolve_gguf
from retrievers import RagError


def test_any_litellm_provider_completes_and_streams(fake_provider):
    llm = LLM(fake_provider, api_base="http://unused")
    assert llm.complete([{"role": "user", "content": "hi"}]).text == "echo: hi"
    generation = Generation()
    pieces = list(llm.stream([{"role": "user", "content": "hi"}], generation))
    assert "".join(pieces) == generation.text == "echo: hi"
    assert generation.first_token_s is not None and generation.usage.completion_tokens > 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_errors_name_the_setting_to_fix(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(RagError, match="unknown model 'nonsense'.*RAG_MODEL"):
        LLM("nonsense").complete(messages)
    with pytest.raises(RagError, match="needs OPENAI_API_KEY"):
        LLM("openai/gpt-4o-mini").complete(messages)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    offline = LLM("openai/gpt-4o-mini", api_base=f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(RagError, match="cannot reach model 'openai/gpt-4o-mini'"):
        offline.complete(messages)
    with pytest.raises(RagError, match="unknown local model 'missing.gguf'"):
        LLM("local/missing.gguf")


def test_the_embedded_model_ships_in_a_package():
    path = resolve_gguf("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    llm = LLM()
    assert llm.model == "local/smollm2" and llm.is_local and llm.context_window == 4096
