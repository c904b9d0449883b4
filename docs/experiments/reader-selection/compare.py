"""Which passage should the reader's answer come from? Compares ways of choosing it, on one trained reader.

The reader gives each passage a selection logit and a best-span score (start + end logits); the
retriever gives a rank. Reading the gold paragraph alone, the reader of docs/reader/reader-nq-4ep.json
reaches F1 31 on the verified SQuAD-format stand-in, but over the top passages it falls to 9: the
choice of passage, not the span, loses most answers. This scores each rule on the same readings.

    python docs/experiments/reader-selection/compare.py --reader models/reader-nq-4ep \
        --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl -c wiki-vital --limit 300 --k 10
    python docs/experiments/reader-selection/compare.py --reader models/reader-nq-4ep \
        --squad /tmp/efficientqa-squad-proxy.json -c efficientqa-squad-proxy --k 10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from rag.config import Settings  # noqa: E402
from rag.retrieval import open_collection, open_retriever  # noqa: E402
from retrievers.answer_text import has_answer, normalize, read_qa  # noqa: E402
from retrievers.reader import Reader  # noqa: E402
from retrievers.reader.training import _f1  # noqa: E402


def readings(reader: Reader, question: str, contexts: list[str]) -> list[dict]:
    """Per passage: selection logit, best span score and text."""
    reading = reader.score(question, contexts)
    out = []
    for p in range(len(contexts)):
        spans = reading.spans(p) if reading is not None else []
        out.append({"select": float(reading.select[p]) if reading is not None else 0.0,
                    "span": spans[0].score if spans else -1e9, "text": spans[0].text if spans else ""})
    return out


RULES = {
    "selection logit (DPR)": lambda r, rank: r["select"],
    "span score": lambda r, rank: r["span"],
    "selection + span": lambda r, rank: r["select"] + r["span"],
    "retriever's top passage": lambda r, rank: -rank,
    "selection + span - 1 per rank": lambda r, rank: r["select"] + r["span"] - rank,
    "selection + span - 2 per rank": lambda r, rank: r["select"] + r["span"] - 2 * rank,
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", required=True)
    parser.add_argument("--qa", help="NQ-open jsonl")
    parser.add_argument("--squad", help="SQuAD-format json")
    parser.add_argument("-c", "--collection", required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()

    if args.qa:
        items = [(q.question, q.answers) for q in read_qa(args.qa).questions][: args.limit]
    else:
        data = json.loads(Path(args.squad).read_text(encoding="utf-8"))["data"]
        items = [(q["question"], [normalize(a["text"]) for a in q["answers"]])
                 for a in data for p in a["paragraphs"] for q in p["qas"]][: args.limit]
    settings = Settings()
    coll = open_collection(settings, args.collection)
    retriever = open_retriever(settings, coll, "hybrid")
    reader = Reader(args.reader)
    scores = {name: [0.0, 0.0, 0.0, 0.0] for name in RULES}  # em, f1, em answerable, f1 answerable
    answerable = 0
    for question, golds in items:
        contexts = [p.indexed_text for p, _ in retriever.search(question, args.k)]
        can = any(has_answer(golds, normalize(c)) for c in contexts)
        answerable += can
        reads = readings(reader, question, contexts)
        for name, rule in RULES.items():
            best = int(np.argmax([rule(r, rank) for rank, r in enumerate(reads)]))
            text = reads[best]["text"]
            em = float(normalize(text) in {normalize(g) for g in golds})
            f1 = max(_f1(text, g) for g in golds)
            s = scores[name]
            s[0] += em
            s[1] += f1
            if can:
                s[2] += em
                s[3] += f1
    coll.close()
    n = len(items)
    print(f"{n} questions, {answerable} with an answer in the top {args.k}; reader {args.reader}")
    print("| rule | EM | F1 | EM / F1 where the passages hold an answer |")
    print("|---|---|---|---|")
    for name, (em, f1, aem, af1) in scores.items():
        print(f"| {name} | {100 * em / n:.1f} | {100 * f1 / n:.1f} | "
              f"{100 * aem / max(1, answerable):.1f} / {100 * af1 / max(1, answerable):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
