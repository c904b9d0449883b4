import pytest

from rag.cli import main
from rag.llm import litellm_module


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the `rag` command line in-process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(docs, tmp_path, capsys):
    """A store with the tiny document set ingested into `default` through the CLI."""
    store = str(tmp_path / "store")
    code, out, _ = run(capsys, "ingest", str(docs), "--store", store, "--no-progress")
    assert code == 0 and "5 added" in out
    return store


@pytest.fixture(scope="session")
def fake_provider():
    """A litellm custom provider `fake/...` that echoes the last message: the whole litellm path, offline."""
    litellm = litellm_module()
    from litellm import CustomLLM
    from litellm.types.utils import ModelResponse

    class Fake(CustomLLM):
        def completion(self, model, messages, *args, model_response=None, **kwargs):
            response = model_response or ModelResponse()
            response.choices[0].message.content = f"echo: {messages[-1]['content']}"
            return response

        def streaming(self, model, messages, *args, **kwargs):
            for word in ["echo:", " ", messages[-1]["content"]]:
                yield {"text": word, "is_finished": False, "finish_reason": "", "usage": None, "index": 0,
                       "tool_use": None}
            yield {"text": "", "is_finished": True, "finish_reason": "stop", "index": 0, "tool_use": None,
                   "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}

    litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": "fake", "custom_handler": Fake()}]
    yield "fake/model"
    litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p["provider"] != "fake"]


