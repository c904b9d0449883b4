"""Shared fixtures: the real shipped encoder (loaded once), temporary stores and tiny document sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Most tests are about retrieval and the LLM's answers: they run without the default shipped reader (its span
# check costs a second an answer). tests/rag/test_defaults.py removes this and tests the default path itself.
os.environ.setdefault("RAG_READER", "none")
# Starlette's TestClient addresses the app as http://testserver, which a server without credentials refuses
# (no DNS rebinding). tests/security/ sets its own hosts and checks that refusal.
os.environ.setdefault("RAG_ALLOWED_HOSTS", "testserver")

from rag.cli import main  # noqa: E402  (after the environment above)
from rag.llm import litellm_module  # noqa: E402

DOCS = {
    "paris.txt": "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was designed by the "
    "engineer Gustave Eiffel and completed in 1889 for the World's Fair.",
    "rivers.md": "# Rivers of the world\n\nThe Nile flows north through eleven countries into the Mediterranean "
    "Sea. The Amazon in South America carries more water than any other river.",
    "cats.html": "<html><head><title>Domestic cats</title><script>var secret = 'do not index';</script>"
    "<style>p {color: red}</style></head><body><h1>Cats</h1><p>The domestic cat is a small "
    "carnivorous mammal, often kept as a house pet for catching mice.</p></body></html>",
    "space.jsonl": '{"id": "moon", "title": "Moon", "text": "The Moon is Earth\'s only natural satellite and '
    'orbits it about every 27 days."}\n'
    '{"id": "mars", "title": "Mars", "text": "Mars is the fourth planet from the Sun, called the '
    'Red Planet because of iron oxide dust."}\n',
}


def write_docs(folder: Path, docs: dict[str, str | bytes] = DOCS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in docs.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def encoder():
    from retrievers import DPREncoder

    return DPREncoder()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs")


@pytest.fixture
def settings(tmp_path: Path):
    from rag.config import Settings

    return Settings(store=tmp_path / "store")


@pytest.fixture
def ingested(docs: Path, settings):
    """The tiny document set ingested into the `default` collection."""
    from rag.documents.pipeline import ingest

    report = ingest([str(docs)], settings, progress=False)
    assert not report.failed, report.failed
    return settings


@pytest.fixture
def models_copy(tmp_path, monkeypatch):
    """The shipped models copied into a temporary package folder, with an empty cache of merged models."""
    import shutil

    from retrievers.encoders import shipped

    root = tmp_path / "models"
    shutil.copytree(shipped.MODELS_DIR, root)
    monkeypatch.setattr(shipped, "MODELS_DIR", root)
    monkeypatch.setattr(shipped, "default_models_cache", lambda: tmp_path / "cache")
    return root


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
                yield {
                    "text": word,
                    "is_finished": False,
                    "finish_reason": "",
                    "usage": None,
                    "index": 0,
                    "tool_use": None,
                }
            yield {
                "text": "",
                "is_finished": True,
                "finish_reason": "stop",
                "index": 0,
                "tool_use": None,
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            }

    litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": "fake", "custom_handler": Fake()}]
    yield "fake/model"
    litellm.custom_provider_map = [p for p in litellm.custom_provider_map if p["provider"] != "fake"]


RERANK_PAIRS = [  # (question, passage, relevant)
    ("who designed the eiffel tower", "The Eiffel Tower was designed by the engineer Gustave Eiffel.", 1),
    ("who designed the eiffel tower", "Rome has the Colosseum, an amphitheatre of concrete.", 0),
    ("why is mars red", "Mars looks red because of iron oxide on its surface.", 1),
    ("why is mars red", "Cats like to chase mice and sleep in the sun.", 0),
    ("which river carries the most water", "The Amazon carries more water than any other river.", 1),
    ("which river carries the most water", "The Eiffel Tower was designed by the engineer Gustave Eiffel.", 0),
    ("what do cats chase", "Cats like to chase mice and sleep in the sun.", 1),
    ("what do cats chase", "Mars looks red because of iron oxide on its surface.", 0),
]


@pytest.fixture(scope="session")
def cross_encoder_dir(tmp_path_factory):
    """A cross-encoder from the shipped MiniLM, trained for a few steps on the pairs above, saved as users save
    theirs: the interface is tested with a real trained model, not a stand-in."""
    import torch
    from sentence_transformers import CrossEncoder

    from retrievers.encoders import resolve_model_path

    torch.manual_seed(0)
    model = CrossEncoder(
        str(resolve_model_path("all-MiniLM-L6-v2")), num_labels=1, max_length=64, local_files_only=True
    )
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=5e-5)
    batch = model.tokenizer(
        [q for q, _, _ in RERANK_PAIRS],
        [p for _, p, _ in RERANK_PAIRS],
        padding=True,
        truncation=True,
        return_tensors="pt",
    )
    labels = torch.tensor([float(r) for _, _, r in RERANK_PAIRS])
    model.model.train()
    for _ in range(30):
        optimizer.zero_grad()
        logits = model.model(**batch).logits.squeeze(-1)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
        optimizer.step()
    model.model.eval()
    out = tmp_path_factory.mktemp("reranker") / "tiny-cross-encoder"
    model.save(str(out))
    return out
