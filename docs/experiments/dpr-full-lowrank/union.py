"""How much fusing can add at k: the share of questions whose answer is in dense's top k or BM25's top k.

    rag eval retrieval --dataset nq-open:$NQ/NQ-open.efficientqa.dev.1.1.jsonl -c wiki-vital \
        --modes bm25,dense,hybrid-linear --report /tmp/rep
    python docs/experiments/dpr-full-lowrank/union.py /tmp/rep/results.jsonl

Passages are read from the built-in corpus (title + ". " + extract, as the nq-vital rules say) and matched
with DPR's rule (`retrievers.answer_text`).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from eval.bench_corpus import builtin_records
from retrievers.answer_text import has_answer, normalize


def main() -> int:
    text = {record["title"]: normalize(record["text"]) for record in builtin_records()}
    runs: dict[str, dict[str, dict]] = defaultdict(dict)
    with open(sys.argv[1], encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            row["answers"] = [normalize(a) for a in row["answers"]]
            runs[row["retriever"]][row["id"]] = row

    def hit(row: dict, k: int) -> bool:
        return any(has_answer(row["answers"], text[title]) for title in row["retrieved"][:k])

    questions = list(runs["dense"])
    for k in (5, 20, 100):
        shares = {name: sum(hit(run[q], k) for q in questions) for name, run in runs.items()}
        union = sum(hit(runs["dense"][q], k) or hit(runs["bm25"][q], k) for q in questions)
        line = ", ".join(f"{name} {100 * n / len(questions):.1f}" for name, n in shares.items())
        print(f"top-{k}: {line}; dense or bm25 {100 * union / len(questions):.1f} ({len(questions)} questions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
