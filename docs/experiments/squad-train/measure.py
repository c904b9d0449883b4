"""The reader and its LLM span check on the SQuAD-style check, each question reading its own gold
paragraph alone (the answer target's setting with the choice of passage taken out).

For each reader: its best span alone, then the landed check (`rag.answer.span_check.SpanChecker`, the `check`
prompt as shipped) over its top K candidates for K in 3, 5, 10, reordered by `retrievers.reader.rerank`
with each weight. The check runs once per question over 10 candidates; smaller K use the first of them
(the reader's own order). Scored with `rag eval answers`' SQuAD EM and F1.

    python docs/experiments/squad-train/measure.py --split dev retrievers/models/reader-nq /tmp/reader-squad
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "squad-check"))

from build import load_questions  # noqa: E402

from eval.metrics import exact_match, token_f1  # noqa: E402
from prompts import PromptSet  # noqa: E402
from rag.documents.loaders import _wiki_vital_file  # noqa: E402
from rag.answer.span_check import SpanChecker  # noqa: E402
from retrievers.reader import Reader, rerank  # noqa: E402

KS = (3, 5, 10)
WEIGHTS = (0.5, 1.0, 2.0, 4.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--no-check", action="store_true", help="the reader alone (fast)")
    parser.add_argument("readers", nargs="+")
    args = parser.parse_args()
    summaries = json.loads(_wiki_vital_file().read_text(encoding="utf-8"))
    rows = load_questions(args.split)
    prompt = PromptSet.load().check
    checker = SpanChecker(prompt)
    print(f"{len(rows)} {args.split} questions, each reading its gold paragraph alone; check prompt "
          f"{prompt.name}.{prompt.version}")
    for path in args.readers:
        reader = Reader(path)
        totals: dict[str, list[float]] = {}
        start = time.perf_counter()
        for row in rows:
            context, golds = summaries[row["title"]]["extract"], [row["answer"]]
            spans = reader.read(row["question"], [context], top_spans=max(KS))
            if not spans:
                continue

            def score(name: str, text: str) -> None:
                totals.setdefault(name, [0.0, 0.0])
                totals[name][0] += exact_match(text, golds)
                totals[name][1] += token_f1(text, golds)

            score("reader alone", spans[0].text)
            if args.no_check:
                continue
            checks = checker(row["question"], context, [s.text for s in spans])
            for k in KS:
                for w in WEIGHTS:
                    picked = rerank(spans[:k], checks[:k], w)[0] if checks else spans[0]
                    score(f"check k={k} w={w}", picked.text)
        seconds = time.perf_counter() - start
        print(f"\n{path} ({seconds:.0f} s)\n\n| rule | EM | F1 |\n|---|---|---|")
        for name, (em, f1) in totals.items():
            print(f"| {name} | {100 * em / len(rows):.1f} | {100 * f1 / len(rows):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
