"""Shared fixtures: the real shipped encoder (loaded once), temporary stores and tiny document sets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

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
    from rag.ingestion import ingest

    report = ingest([str(docs)], settings, progress=False)
    assert not report.failed, report.failed
    return settings
