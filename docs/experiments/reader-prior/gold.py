"""The landed check (`rag.answer.span_check.SpanChecker` + `retrievers.reader.rerank`, with the `check` prompt and
the default k and weight) on gold paragraphs: each question reads its own paragraph alone, so only the
span counts. Same sets as verify.py, which chose k and the weight with its own prompt.

    python docs/experiments/reader-prior/gold.py --reader models/reader-nq-seeds /tmp/rs/depth50/averaged
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reader-seeds"))

from run import squad_items  # noqa: E402

from prompts import PromptSet  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.answer.span_check import SpanChecker  # noqa: E402
from retrievers.reader import Reader, rerank  # noqa: E402
from retrievers.reader.training import _f1  # noqa: E402

SETS = {"dev (35)": "/tmp/rs/dev.json", "test, all 197": "/tmp/efficientqa-squad-proxy-all.json",
        "test, verified 35": "/tmp/efficientqa-squad-proxy.json"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", nargs="+", required=True)
    args = parser.parse_args()
    defaults = Settings()
    checker = SpanChecker(PromptSet.load().check)
    print(f"k = {defaults.reader_check_k}, weight = {defaults.reader_check_weight}")
    print("| reader | set | reader alone: EM / F1 | checked: EM / F1 | checked better / worse |")
    print("|---|---|---|---|---|")
    for path in args.reader:
        reader = Reader(path)
        for name, file in SETS.items():
            items = squad_items(file)
            alone, checked, better, worse = [0.0, 0.0], [0.0, 0.0], 0, 0
            for question, answers, (context,) in items:
                spans = reader.read(question, [context], top_spans=defaults.reader_check_k)
                if not spans:
                    continue
                checks = checker(question, context, [s.text for s in spans])
                picked = rerank(spans, checks, defaults.reader_check_weight)[0] if checks else spans[0]
                for total, span in ((alone, spans[0]), (checked, picked)):
                    total[0] += max(_em(span.text, g) for g in answers)
                    total[1] += max(_f1(span.text, g) for g in answers)
                a, b = (max(_f1(s.text, g) for g in answers) for s in (spans[0], picked))
                better, worse = better + (b > a), worse + (b < a)
            cells = [f"{100 * t[0] / len(items):.1f} / {100 * t[1] / len(items):.1f}" for t in (alone, checked)]
            print(f"| {path} | {name} | {cells[0]} | {cells[1]} | {better} / {worse} |", flush=True)
    return 0


def _em(prediction: str, gold: str) -> float:
    from retrievers.answer_text import normalize

    return float(normalize(prediction) == normalize(gold))


if __name__ == "__main__":
    sys.exit(main())
