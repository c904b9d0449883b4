"""Calibrate the reader-score threshold below which an answer abstains ("the documents don't say").

For each nq-vital validation question (EfficientQA dev, answer in 1-5 wiki-vital passages) the default
engine retrieves, the reader reads its `reader_k` passages and the span check picks the span, exactly as
`rag ask` does (no LLM prose). A question is *answerable* when a gold answer is in a passage read. The
threshold is chosen on the odd-numbered questions as the lowest one that refuses >= 70% of their
unanswerable questions; both sides are reported on the even-numbered ones: the refusal rate on
unanswerable questions, and the reader's F1 on answerable ones with and without abstention.

    python docs/experiments/abstention/calibrate.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl \
        -c wiki-vital --out docs/experiments/abstention/scores.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from eval.metrics import token_f1
from eval.nq_vital import read_nq_open, select
from rag.assembly import build_engine
from rag.config import Settings
from retrievers.answer_text import has_answer, normalize


def collect(args: argparse.Namespace) -> list[dict]:
    settings = Settings(collection=args.collection, abstain_score=None)
    engine = build_engine(settings)
    coll = engine.retriever.collection if hasattr(engine.retriever, "collection") else None
    texts = [p.indexed_text for p in coll.passages()] if coll is not None else []
    questions = select(read_nq_open(args.qa), texts, 5) if texts else read_nq_open(args.qa)
    rows = []
    started = time.perf_counter()
    for i, q in enumerate(questions[: args.limit or None]):
        timings: dict = {}
        sources = engine._retrieve(q.question, timings, max(engine.context_k, engine.reader_k))
        short = engine._read(q.question, sources, timings)
        read = [s.passage.indexed_text for s in sources[: engine.reader_k]]
        rows.append({"i": i, "question": q.question, "answers": q.answers,
                     "answerable": any(has_answer(q.answers, normalize(t)) for t in read),
                     "span": short.text if short else None, "score": short.score if short else None,
                     "check": short.check if short else None,
                     "f1": token_f1(short.text, [a.strip() for a in q.answers]) if short else 0.0,
                     "ms": timings})
        if (i + 1) % 20 == 0:
            print(f"{i + 1} questions, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def side(rows: list[dict], threshold: float | None) -> dict:
    refuse = [r["score"] is None or (threshold is not None and r["score"] < threshold) for r in rows]
    unanswerable = [x for r, x in zip(rows, refuse) if not r["answerable"]]
    answerable = [(r, x) for r, x in zip(rows, refuse) if r["answerable"]]
    f1_all = 100 * sum(r["f1"] for r, _ in answerable) / max(1, len(answerable))
    f1_kept = 100 * sum(0.0 if x else r["f1"] for r, x in answerable) / max(1, len(answerable))
    return {"threshold": threshold, "unanswerable": len(unanswerable), "answerable": len(answerable),
            "refused_unanswerable": round(100 * sum(unanswerable) / max(1, len(unanswerable)), 1),
            "refused_answerable": round(100 * sum(x for _, x in answerable) / max(1, len(answerable)), 1),
            "answerable_f1_without": round(f1_all, 1), "answerable_f1_with": round(f1_kept, 1)}


def choose(rows: list[dict], target: float) -> float | None:
    scores = sorted({r["score"] for r in rows if r["score"] is not None})
    for t in scores:
        if side(rows, t)["refused_unanswerable"] >= target:
            return round(t, 2)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--out", type=Path, required=True, help="per-question scores (jsonl); reused if present")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--target", type=float, default=70.0, help="refusal rate wanted on unanswerable questions")
    args = parser.parse_args()
    if args.out.is_file():
        rows = [json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
    else:
        rows = collect(args)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dev, test = rows[0::2], rows[1::2]
    threshold = choose(dev, args.target)
    report = {"chosen_on_dev": threshold, "dev": side(dev, threshold), "test": side(test, threshold),
              "grid_test": [side(test, t) for t in (None, 0, 2, 4, 6, 8, 10)]}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
