"""The worst files we know for each reader, made at a given size, and how long each takes to read and split.

The bound: no input file of 20 MB or less may take longer than 10 s to load (`rag bench --hostile-files`).
Each kind aims at one way a parser goes quadratic or worse: backtracking in the Markdown title, rescans
of the rest of an HTML page per unclosed `<`, a word splitter that rescans per word, nesting deep enough
for a recursive reader, a line with no break at all. Every file is read in a child process with a
deadline, so a parser that hangs is reported, not waited for.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

# name -> the file's text at (about) n characters
KINDS: dict[str, Callable[[int], str]] = {
    "heading-spaces.md": lambda n: "# a" + " " * n + "b\n\nThe body of the document.",
    "heading-words.md": lambda n: "# " + "word " * (n // 5) + "\n\nThe body of the document.",
    "unclosed-tags-lines.html": lambda n: "<p>The body of the page.</p>" + "<a\n" * (n // 3),
    "unclosed-tags.html": lambda n: "<p>The body of the page.</p>" + "<a" * (n // 2),
    "unclosed-comments.html": lambda n: "<p>The body of the page.</p>" + "<!-- <p>" * (n // 8),
    "one-letter-words.txt": lambda n: "a " * (n // 2),
    "no-spaces.txt": lambda n: "x" * n,
    "no-sentence-ends.txt": lambda n: "word " * (n // 5),
    "deep-arrays.json": lambda n: "[" * (n // 2) + "]" * (n // 2),
    "deep-objects.jsonl": lambda n: '{"text": ' * (n // 10) + '"x"' + "}" * (n // 10) + "\n",
    "many-records.jsonl": lambda n: '{"title": "t", "text": "a b c"}\n' * (n // 32),
    "bad-lines.jsonl": lambda n: '{"title": "t", "text": "The one good record."}\n' + "x\n" * (n // 2),
    "unclosed-tables.html": lambda n: "<p>The body of the page.</p>" + "<table><tr><td>a" * (n // 16),
    "table-rows.html": lambda n: "<table>" + "<tr><td>a</td><td>b</td></tr>" * (n // 27) + "</table>",
    "one-column.csv": lambda n: "a\n" * (n // 2),
    "wide-row.csv": lambda n: "a," * (n // 2) + "\n",
    "nested-groups.rtf": lambda n: "{\\rtf1 " + "{" * (n // 4) + "x" + "}" * (n // 4) + "}",
}

# read and split in a fresh interpreter, as ingest does; prints the seconds and what came out
_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from rag.config import Settings
from rag.documents.pipeline import read_passages, too_big_to_read
from rag.documents.loaders import Input, LoadError
path = Path(sys.argv[1])
bound = int(sys.argv[3]) or None
settings = Settings(passage_words=100, split_records=False)
started = time.perf_counter()
try:
    loaded, passages = read_passages(Input(source=str(path), path=path), settings, max_passages=bound)
    outcome = f"{len(passages)} passages"
except LoadError as exc:
    outcome = f"refused: {exc}"
except (RecursionError, MemoryError) as exc:  # contained per file by ingest, as here
    outcome = f"refused: {too_big_to_read(exc)}"
print(f"{time.perf_counter() - started:.3f}\\t{outcome}")
"""


@dataclass
class FileTiming:
    name: str
    megabytes: float
    seconds: float | None  # None: still running at the deadline
    outcome: str  # "N passages", "refused: why", or what went wrong
    ok: bool


def time_hostile_files(
    size_mb: float = 20.0,
    limit_s: float = 10.0,
    kinds: dict[str, Callable[[int], str]] = KINDS,
    work: Path | None = None,
    max_passages: int | None = None,
) -> list[FileTiming]:
    """Write each kind at `size_mb` and time reading and splitting it; `ok` when done within `limit_s` (a clear
    refusal counts: the ingest goes on without that file). With `max_passages`, each is read as an upload is
    (`RAG_UPLOAD_MAX_PASSAGES`); without, as `rag ingest` reads the operator's own files."""
    root = Path(__file__).resolve().parents[1]
    out = []
    with tempfile.TemporaryDirectory(dir=work) as folder:
        for name, make in kinds.items():
            path = Path(folder) / name
            path.write_text(make(int(size_mb * 1_000_000)), encoding="utf-8")
            megabytes = round(path.stat().st_size / 1e6, 1)
            started = time.perf_counter()
            try:
                run = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(path), str(root), str(max_passages or 0)],
                    capture_output=True,
                    text=True,
                    timeout=max(1.0, 3 * limit_s),
                )
            except subprocess.TimeoutExpired:
                out.append(FileTiming(name, megabytes, None, f"still running after {3 * limit_s:.0f} s", False))
                continue
            finally:
                path.unlink(missing_ok=True)
            if run.returncode != 0:
                last = (run.stderr.strip().splitlines() or ["no output"])[-1]
                seconds = round(time.perf_counter() - started, 2)
                out.append(FileTiming(name, megabytes, seconds, f"crashed: {last}", False))
                continue
            seconds_text, _, outcome = run.stdout.strip().partition("\t")
            seconds = float(seconds_text)
            out.append(FileTiming(name, megabytes, round(seconds, 2), outcome, seconds <= limit_s))
    return out


def timings_table(timings: list[FileTiming], limit_s: float) -> str:
    lines = [f"{'file':<26} {'MB':>5} {'seconds':>8}  outcome"]
    for t in timings:
        seconds = f"{t.seconds:.2f}" if t.seconds is not None else "-"
        lines.append(f"{t.name:<26} {t.megabytes:>5} {seconds:>8}  {'' if t.ok else 'SLOW: '}{t.outcome[:70]}")
    slow = [t.name for t in timings if not t.ok]
    lines.append(
        f"PASSED: every file within {limit_s:g} s" if not slow else f"FAILED: {', '.join(slow)} over {limit_s:g} s"
    )
    return "\n".join(lines)


def timings_json(timings: list[FileTiming]) -> str:
    return json.dumps([asdict(t) for t in timings], indent=2)
