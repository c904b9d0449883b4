"""Peak memory and time of ingesting one large text file (issue 8's 50 MB and 10 MB single-line cases).

    .venv/bin/python docs/experiments/large-files/measure.py --mb 50
    .venv/bin/python docs/experiments/large-files/measure.py --mb 10 --single-line
    .venv/bin/python docs/experiments/large-files/measure.py --mb 50 --files 100   # the same text in 100 files

The passage encoder is replaced by a stub that returns a fixed-size vector at once: encoding 67,000
passages for real takes 10-25 minutes here and says nothing about memory. Everything else (reading,
decoding, splitting, the Chroma write, the passage table, the BM25 build) is the real code.
"""

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from rag.documents import pipeline as ingestion  # noqa: E402
from rag.config import Settings  # noqa: E402


class StubEncoder:
    name, dimension = "all-MiniLM-L6-v2", 384

    def encode_query(self, texts):
        return self.encode_passage(texts)

    def encode_passage(self, texts, *, show_progress=False):
        out = np.zeros((len(texts), 384), dtype=np.float32)
        out[np.arange(len(texts)), [hash(t) % 384 for t in texts]] = 1.0
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--single-line", action="store_true", help="no newline in the whole file")
    parser.add_argument("--files", type=int, default=1, help="spread the text over this many files")
    args = parser.parse_args()
    ingestion.load_encoder = lambda *a, **k: StubEncoder()
    work = Path(tempfile.mkdtemp(prefix="large-file-"))
    rng = random.Random(0)
    words = [f"w{i}" for i in range(20000)]
    folder = work / "docs"
    folder.mkdir()
    per_file = args.mb * 2**20 // args.files
    for f in range(args.files):
        with open(folder / f"big{f:04d}.txt", "w") as handle:
            while handle.tell() < per_file:
                sentence = " ".join(rng.choice(words) for _ in range(15)) + ". "
                handle.write(sentence if args.single_line or rng.random() >= 0.1 else sentence + "\n\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    started = time.perf_counter()
    report = ingestion.ingest([str(folder)], Settings(store=work / "store"), progress=False)
    print(f"{args.mb} MB{' single-line' if args.single_line else ''} in {args.files} file(s): {report.added} passages, "
          f"{time.perf_counter() - started:.1f} s, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB "
          f"(before ingest {before} MB); failed: {report.failed}")


if __name__ == "__main__":
    main()
