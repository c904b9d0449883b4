"""Collect, per nq-vital validation question, every signal an abstention rule could use, as the default engine
computes them: the retriever's fused scores, the reader's span and selection logits, the span check's
log-probability, how many read passages hold the chosen span, and whether a gold answer is in a passage read.

    python docs/experiments/abstention/features.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl \
        -c wiki-vital --out docs/experiments/abstention/features.jsonl

`choose.py` beside it picks a rule on the odd-numbered questions and reports it on the even-numbered ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.nq_vital import read_nq_open, select  # noqa: E402
from rag.assembly import build_engine  # noqa: E402
from rag.config import Settings  # noqa: E402
from retrievers.answer_text import has_answer, normalize, token_f1  # noqa: E402


def features(engine, question: str) -> dict:
    timings: dict = {}
    sources = engine._retrieve(question, timings, max(engine.context_k, engine.reader_k))
    contexts = [s.passage.indexed_text for s in sources[: engine.reader_k]]
    started = time.perf_counter()
    reading = engine.reader.score(question, contexts)
    best_per_passage = [reading.spans(p, 1) for p in range(len(contexts))]
    timings["reader_only_ms"] = round(1000 * (time.perf_counter() - started), 1)
    short = engine._read(question, sources, timings)  # the default path: reader, then the span check
    span_norm = normalize(short.text) if short else ""
    holding = sum(1 for c in contexts if span_norm.strip() and span_norm in normalize(c)) if short else 0
    return {"fused": [round(s.score, 4) for s in sources[: engine.reader_k]],
            "span_scores": [round(b[0].score, 4) if b else None for b in best_per_passage],
            "select": [round(float(x), 4) for x in reading.select],
            "span": short.text if short else None, "score": short.score if short else None,
            "check": short.check if short else None, "source": short.source if short else None,
            "holding": holding, "contexts": contexts, "ms": timings}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    engine = build_engine(Settings(collection=args.collection, abstain_score=None))
    texts = [p.indexed_text for p in engine.retriever.collection.passages()]
    questions = select(read_nq_open(args.qa), texts, 5)
    started = time.perf_counter()
    with args.out.open("w", encoding="utf-8") as out:
        for i, q in enumerate(questions[: args.limit or None]):
            row = features(engine, q.question)
            contexts = row.pop("contexts")
            gold = [a.strip() for a in q.answers]
            row = {"i": i, "question": q.question, "answers": gold,
                   "answerable": any(has_answer(q.answers, normalize(t)) for t in contexts),
                   "f1": token_f1(row["span"], gold) if row["span"] else 0.0, **row}
            out.write(json.dumps(row) + "\n")
            out.flush()
            if (i + 1) % 20 == 0:
                print(f"{i + 1} questions, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
