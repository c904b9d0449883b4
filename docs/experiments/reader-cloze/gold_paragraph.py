"""Span extraction alone: each reader reads every question's own gold paragraph (and nothing else).

Reading the gold paragraph takes the choice of passage out of the measure, so two readers are compared
on their spans only. Used to see what cloze pretraining (`rag train-reader --cloze N`) adds:

    python docs/experiments/reader-cloze/gold_paragraph.py --squad /tmp/efficientqa-squad-proxy.json \
        models/reader-nq models/reader-nq-cloze

`--squad` is a SQuAD-format file, such as the stand-in `docs/reader/squad_proxy.py` builds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from retrievers.reader import Reader  # noqa: E402
from retrievers.reader.evaluation import evaluate_reader  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", required=True, help="SQuAD-format file")
    parser.add_argument("readers", nargs="+", help="reader directories")
    args = parser.parse_args()
    data = json.loads(Path(args.squad).read_text(encoding="utf-8"))["data"]
    items = [(qa["question"], [a["text"] for a in qa["answers"]], [p["context"]])
             for article in data for p in article["paragraphs"] for qa in p["qas"] if qa["answers"]]
    print(f"{len(items)} questions from {args.squad}, each reading its gold paragraph alone\n")
    print("| reader | EM | F1 |\n|---|---|---|")
    for path in args.readers:
        scores = evaluate_reader(Reader(path), items)
        print(f"| {path} | {scores['em']:.1f} | {scores['f1']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
