"""Memory stays bounded on a large input: a 50 MB text file.

Each ingest runs in a fresh process whose passage encoder is a stub (encoding 67,000 passages for
real takes 10-25 minutes here and says nothing about memory); reading, splitting, the Chroma
write, the passage table and the BM25 build are the real code. The bound is on the growth of the
peak RSS over the process before the ingest: 50 MB of text once took 1.15 GB more (the splitter
held every word position, BM25 every token string); now it is the indexes themselves.
"""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
INGEST_WITH_A_STUB_ENCODER = """
import json, resource, sys
import numpy as np
sys.path.insert(0, sys.argv[3])
from rag.documents import pipeline as ingestion
from rag.config import Settings

class Stub:
    name, dimension = "all-MiniLM-L6-v2", 384
    def encode_query(self, texts):
        return self.encode_passage(texts)
    def encode_passage(self, texts, *, show_progress=False):
        out = np.zeros((len(texts), 384), dtype=np.float32)
        out[np.arange(len(texts)), [hash(t) % 384 for t in texts]] = 1.0
        return out

ingestion.load_encoder = lambda *a, **k: Stub()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = ingestion.ingest([sys.argv[1]], Settings(store=sys.argv[2]), progress=False)
growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"added": report.added, "failed": report.failed, "growth_mb": growth // 1024}))
"""


def write_text(folder: Path, megabytes: int, files: int) -> int:
    """About `megabytes` of fifteen-word sentences spread over `files` files; returns the word count."""
    rng = random.Random(0)
    vocabulary = [f"w{i}" for i in range(20000)]
    folder.mkdir()
    words = 0
    for f in range(files):
        with open(folder / f"part{f:03d}.txt", "w", encoding="utf-8") as handle:
            while handle.tell() < megabytes * 2**20 // files:
                handle.write(
                    " ".join(rng.choice(vocabulary) for _ in range(15)) + (". \n\n" if rng.random() < 0.1 else ". ")
                )
                words += 15
    return words


def test_a_fifty_megabyte_text_file_is_ingested_within_a_bounded_memory(tmp_path):
    words = write_text(tmp_path / "docs", 50, files=1)
    run = subprocess.run(
        [sys.executable, "-c", INGEST_WITH_A_STUB_ENCODER, str(tmp_path / "docs"), str(tmp_path / "store"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["failed"] == [] and result["added"] >= words // 125  # passages of at most 125 words
    assert result["growth_mb"] < 900, result  # measured here: about 680 MB
