"""DPR's top-k retrieval accuracy by answer-string match (the nq-vital rules).

A passage has the answer when a normalised gold answer is a substring of the normalised passage
(lower case, Unicode NFD, `\\w+` tokens joined by single spaces, padded with spaces). Questions whose
answers occur in no passage, or in more than `max_answer_passages`, are left out.

    python -m eval.nq_vital --qa NQ-open.efficientqa.dev.1.1.jsonl --collection wiki-vital
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Iterable, Sequence

from retrievers.answer_text import Question, answer_passage_counts, has_answer, normalize, read_qa


def read_nq_open(path: str) -> list[Question]:
    """NQ-open / EfficientQA jsonl; a malformed line is an error naming it (a benchmark must not skip data)."""
    return read_qa(path, strict=True).questions


def select(questions: Iterable[Question], passages: Iterable[str], max_answer_passages: int | None) -> list[Question]:
    """Questions answered by at least one passage and, when a limit is given, by at most that many."""
    questions = list(questions)
    counts = answer_passage_counts(questions, passages)
    return [
        q
        for q, count in zip(questions, counts)
        if count >= 1 and (max_answer_passages is None or count <= max_answer_passages)
    ]


def top_k_accuracy(
    questions: Sequence[Question], search: Callable[[str, int], list[str]], ks: Sequence[int] = (1, 5, 20, 100)
) -> dict[str, float]:
    """Percentage of questions with an answer-bearing passage among the top k (for each k)."""
    depth = max(ks)
    hits = {k: 0 for k in ks}
    for q in questions:
        texts = search(q.question, depth)
        first = next((i for i, t in enumerate(texts) if has_answer(q.answers, normalize(t))), None)
        for k in ks:
            hits[k] += first is not None and first < k
    n = max(1, len(questions))
    return {f"top{k}": round(100.0 * hits[k] / n, 1) for k in ks}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.nq_vital", description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", required=True, help="NQ-open style jsonl")
    parser.add_argument("--collection", default="wiki-vital")
    parser.add_argument("--store", help="store directory (default: RAG_STORE or ~/.local/share/rag)")
    parser.add_argument(
        "--encoder", action="append", help="encoder to evaluate (repeatable; default: the collection's)"
    )
    parser.add_argument("--modes", default="bm25,dense,hybrid-rrf,hybrid-linear")
    parser.add_argument("-k", default="1,5,20,100")
    parser.add_argument("--max-answer-passages", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from rag.config import Settings
    from retrievers.errors import RagError

    from .retrieval import evaluate_retrieval

    settings = Settings(**({"store": args.store} if args.store else {}))
    try:
        report = evaluate_retrieval(
            settings,
            f"nq-open:{args.qa}",
            args.collection,
            encoders=args.encoder or [None],
            modes=args.modes.split(","),
            ks=[int(k) for k in args.k.split(",")],
            max_answer_passages=args.max_answer_passages,
            progress=not args.json,
        )
    except (RagError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
