"""DPR's top-k retrieval accuracy by answer-string match (the nq-vital rules).

A passage has the answer when a normalised gold answer is a substring of the normalised passage
(lower case, Unicode NFD, `\\w+` tokens joined by single spaces, padded with spaces). Questions whose
answers occur in no passage, or in more than `max_answer_passages`, are left out.

    python -m eval.nq_vital --qa NQ-open.efficientqa.dev.1.1.jsonl --collection wiki-vital
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

_TOKEN = re.compile(r"\w+")


def normalize(text: str) -> str:
    tokens = _TOKEN.findall(unicodedata.normalize("NFD", text.lower()))
    return f" {' '.join(tokens)} "


@dataclass
class Question:
    question: str
    answers: list[str]  # normalised, non-empty


def read_nq_open(path: str) -> list[Question]:
    """NQ-open / EfficientQA jsonl: `{"question": str, "answer": [str, ...]}` per line."""
    questions = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                answers = [normalize(a) for a in record["answer"]]
                question = record["question"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}, line {number}: expected {{\"question\", \"answer\": [...]}} ({exc})") from None
            answers = [a for a in answers if a.strip()]
            if answers and isinstance(question, str) and question.strip():
                questions.append(Question(question, answers))
    return questions


def has_answer(answers: Sequence[str], normalized_passage: str) -> bool:
    return any(a in normalized_passage for a in answers)


def select(questions: Iterable[Question], passages: Iterable[str], max_answer_passages: int | None) -> list[Question]:
    """Questions answered by at least one passage and, when a limit is given, by at most that many."""
    normalized = [normalize(p) for p in passages]
    kept = []
    for q in questions:
        count = sum(1 for p in normalized if has_answer(q.answers, p))
        if count >= 1 and (max_answer_passages is None or count <= max_answer_passages):
            kept.append(q)
    return kept


def top_k_accuracy(questions: Sequence[Question], search: Callable[[str, int], list[str]],
                   ks: Sequence[int] = (1, 5, 20, 100)) -> dict[str, float]:
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
    parser.add_argument("--modes", default="bm25,dense,hybrid-rrf,hybrid-linear")
    parser.add_argument("-k", default="1,5,20,100")
    parser.add_argument("--max-answer-passages", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from rag.config import Settings
    from rag.retrieval import open_collection, open_retriever
    from retrievers.errors import RagError

    ks = [int(k) for k in args.k.split(",")]
    settings = Settings(**({"store": args.store} if args.store else {}))
    try:
        coll = open_collection(settings, args.collection)
        questions = select(read_nq_open(args.qa), (p.text for p in coll.passages()), args.max_answer_passages)
        results = {}
        for label in args.modes.split(","):
            mode, _, fusion = label.partition("-")
            options = {"fusion": fusion} if fusion else {}
            retriever = open_retriever(settings.model_copy(update=options), coll, mode)
            start = time.perf_counter()
            results[label] = top_k_accuracy(questions, lambda q, k, r=retriever: [p.text for p, _ in r.search(q, k)], ks)
            results[label]["ms_per_question"] = round(1000 * (time.perf_counter() - start) / max(1, len(questions)), 1)
    except (RagError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"dataset": args.qa, "n_questions": len(questions), "results": results}, indent=2))
    else:
        print(f"{len(questions)} questions ({args.qa})")
        print("| retriever | " + " | ".join(f"top-{k}" for k in ks) + " |")
        print("|---|" + "---|" * len(ks))
        for label, row in results.items():
            print(f"| {label} | " + " | ".join(f"{row[f'top{k}']:.1f}" for k in ks) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
