"""Churn: delete and re-add 10% of a 10k collection ten times, and measure what it does to query latency and
disk against the fresh build (issue 25; Chroma's HNSW index is known to grow under churn: chroma#2594,
#2963, #3486).

    .venv/bin/python docs/experiments/churn/measure.py --out docs/experiments/churn/results.json
    .venv/bin/python docs/experiments/churn/measure.py --compact --out docs/experiments/churn/compacted.json

The built-in corpus (10,033 passages) is written as 100 JSONL files of about 100 records, ingested into a
fresh store; each round deletes 10 random files' sources (`rag delete --source`'s path) and re-ingests the
folder, which adds them back. After every round: hybrid and dense p50 over the same 200 questions, and the
store's size on disk (Chroma's folder, the passage table, BM25). At the end the fresh build (copied after
round 0) and the last state are timed in turns, for a latency ratio that a busy machine does not skew.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.bench_corpus import builtin_records  # noqa: E402
from eval.measures import folder_mb, percentiles  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.documents.pipeline import ingest  # noqa: E402
from rag.retrieval import open_collection, open_retriever  # noqa: E402
from rag.documents.sources import delete_source  # noqa: E402


def p50s(settings: Settings, queries: list[str]) -> dict[str, float]:
    coll = open_collection(settings, "churn")
    try:
        out = {}
        for mode in ("dense", "hybrid"):
            retriever = open_retriever(settings, coll, mode)
            for q in queries[:20]:
                retriever.search(q, 20)
            times = []
            for q in queries:
                start = time.perf_counter()
                retriever.search(q, 20)
                times.append(1000 * (time.perf_counter() - start))
            out[mode] = percentiles(times)["p50"]
        return out
    finally:
        coll.close()


def paired_p50s(fresh: Settings, last: Settings, queries: list[str], turns: int = 3) -> dict:
    """The fresh build's and the last state's p50, timed in turns in the same minutes (the median of each
    side's turns), so that a busy machine slows both alike: the ratio is the figure, not the times."""
    runs: dict[str, list[dict[str, float]]] = {"fresh": [], "last": []}
    for _ in range(turns):
        runs["fresh"].append(p50s(fresh, queries))
        runs["last"].append(p50s(last, queries))
    return {side: {m: round(statistics.median(r[m] for r in got), 2) for m in got[0]} for side, got in runs.items()}


def parts_mb(store: Path) -> dict[str, float]:
    """Where the store's bytes are: Chroma's SQLite file (with its WAL), its index folders, our passage
    tables and the BM25 indexes."""
    def mb(paths: list[Path]) -> float:
        return round(sum(p.stat().st_size for p in paths if p.is_file()) / 2**20, 1)

    chroma = store / "chroma"
    return {"chroma_sqlite": mb(list(chroma.glob("chroma.sqlite3*"))),
            "chroma_index": mb([p for d in chroma.iterdir() if d.is_dir() for p in d.rglob("*")]),
            "index_folders": sum(1 for d in chroma.iterdir() if d.is_dir()),
            "passage_tables": mb(list((store / "collections").glob("*/passages.sqlite*"))),
            "bm25": mb(list((store / "collections").glob("*/bm25/**/*")))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--backend", default="onnx-int8", help="encoder runtime (the encoder is not what is measured)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compact", action="store_true", help="then `rag compact` the collection and measure again")
    args = parser.parse_args()
    records = builtin_records()
    rng = random.Random(0)
    queries = [f"what is {records[i]['title']}?" for i in rng.sample(range(len(records)), 200)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        per = -(-len(records) // args.files)
        files = []
        for n in range(args.files):
            path = folder / f"part-{n:03d}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records[n * per:(n + 1) * per]), encoding="utf-8")
            files.append(path)
        settings = Settings(store=Path(tmp) / "store", backend=args.backend, collection="churn")
        started = time.perf_counter()
        ingest([str(folder)], settings, progress=False)
        rows = [{"round": 0, "ingest_s": round(time.perf_counter() - started, 1), "store_mb": folder_mb(settings.store),
                 "parts_mb": parts_mb(settings.store), "p50_ms": p50s(settings, queries)}]
        print(json.dumps(rows[-1]), flush=True)
        fresh = Settings(store=Path(tmp) / "fresh-store", backend=args.backend, collection="churn")
        shutil.copytree(settings.store, fresh.store)  # the fresh build, kept to time beside the churned one
        for round_ in range(1, args.rounds + 1):
            started = time.perf_counter()
            for path in rng.sample(files, args.files // 10):
                delete_source(settings, "churn", str(path.resolve()))
            report = ingest([str(folder)], settings, progress=False)
            rows.append({"round": round_, "readded": report.added, "churn_s": round(time.perf_counter() - started, 1),
                         "store_mb": folder_mb(settings.store), "parts_mb": parts_mb(settings.store),
                         "p50_ms": p50s(settings, queries)})
            print(json.dumps(rows[-1]), flush=True)
        if args.compact:
            from retrievers.stores import Collection

            started = time.perf_counter()
            coll = Collection("churn", settings.store)
            coll.compact()
            coll.close()
            rows.append({"round": "compacted", "compact_s": round(time.perf_counter() - started, 1),
                         "store_mb": folder_mb(settings.store), "parts_mb": parts_mb(settings.store),
                         "p50_ms": p50s(settings, queries)})
            print(json.dumps(rows[-1]), flush=True)
        first, last = rows[0], rows[-1]
        side_by_side = paired_p50s(fresh, settings, queries)
        summary = {"disk_ratio": round(last["store_mb"] / first["store_mb"], 2),
                   "p50_ratio": {m: round(last["p50_ms"][m] / first["p50_ms"][m], 2) for m in first["p50_ms"]},
                   "paired_p50_ms": side_by_side,
                   "paired_p50_ratio": {m: round(side_by_side["last"][m] / side_by_side["fresh"][m], 2)
                                        for m in side_by_side["fresh"]}}
        print(json.dumps(summary), flush=True)
        if args.out:
            args.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
