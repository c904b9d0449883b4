"""Write each question's first-stage candidates (the default hybrid retriever's top N over a collection), each
labelled by DPR's answer match, as jsonl: the training pairs of a cross-encoder and the list it reranks.

    python docs/experiments/reranker-lce/candidates.py --qa ../shared/data/nq-open/NQ-open.dev.jsonl \
        -c wiki-vital --depth 20 --out build/ce/nq-dev.jsonl
    python docs/experiments/reranker-lce/candidates.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl \
        -c wiki-vital --depth 50 --nq-vital --out build/ce/nq-vital.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.nq_vital import read_nq_open, select  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.retrieval import open_collection, open_retriever  # noqa: E402
from retrievers.answer_text import has_answer, normalize  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--nq-vital", action="store_true", help="keep only questions answered in 1-5 passages")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    settings = Settings(collection=args.collection)
    retriever = open_retriever(settings, open_collection(settings))
    questions = read_nq_open(args.qa)
    if args.nq_vital:
        questions = select(questions, [p.indexed_text for p in retriever.collection.passages()], 5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with args.out.open("w", encoding="utf-8") as out:
        for i, q in enumerate(questions):
            hits = retriever.search(q.question, args.depth)
            rows = [{"id": p.id, "text": p.indexed_text, "fused": round(float(s), 4),
                     "label": int(has_answer(q.answers, normalize(p.indexed_text)))} for p, s in hits]
            out.write(json.dumps({"i": i, "question": q.question, "answers": list(q.answers), "candidates": rows}) + "\n")
            if (i + 1) % 500 == 0:
                print(f"{i + 1} questions, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
