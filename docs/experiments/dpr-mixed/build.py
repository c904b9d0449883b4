"""The DPR encoder's mixed training questions: NQ-open dev (search queries) followed by the SQuAD-style
training questions of `../squad-train` (written over 1,080 wiki-vital paragraphs, none from the SQuAD-style
check), as one NQ-open-format file, `{"question", "answer": [...]}` per line, for `rag train --qa`.

Only the reader's training split of the SQuAD-style questions is used (its validation titles stay out), so
neither nq-vital's validation questions nor the check's paragraphs are seen in training.

    python docs/experiments/dpr-mixed/build.py --nq ../shared/data/nq-open/NQ-open.dev.jsonl --out build/dpr-mixed.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

QUESTIONS = Path(__file__).resolve().parents[1] / "squad-train" / "questions.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nq", required=True, help="NQ-open questions (jsonl)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    titles = sorted({r["title"] for r in rows})
    train = {t for i, t in enumerate(titles) if i % 10 != 9}  # as squad-train/build.py splits them
    nq = [line for line in Path(args.nq).read_text(encoding="utf-8").splitlines() if line.strip()]
    squad = [json.dumps({"question": r["question"], "answer": [r["answer"]]}, ensure_ascii=False)
             for r in rows if r["title"] in train]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(nq + squad) + "\n", encoding="utf-8")
    print(f"{len(nq)} NQ-open + {len(squad)} SQuAD-style questions -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
