"""Pick the wiki-vital passages the SQuAD-style training questions are written over.

The reader learns SQuAD-style extraction (questions written by someone reading the paragraph) from
questions written over these passages, the way the check (../squad-check) was written. The check's
360 passages are left out, so the check stays held out; so are passages under 50 or over 300 words.

    python docs/experiments/squad-train/sample.py --n 1200 --parts 6 --out /tmp/squadtrain
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from rag.documents.loaders import _wiki_vital_file  # noqa: E402

SEED = 2027
CHECK = Path(__file__).resolve().parents[1] / "squad-check" / "questions.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--parts", type=int, default=6)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    summaries = json.loads(_wiki_vital_file().read_text(encoding="utf-8"))
    checked = {json.loads(line)["title"] for line in CHECK.read_text(encoding="utf-8").splitlines() if line.strip()}
    pool = [t for t in sorted(summaries)
            if t not in checked and 50 <= len(summaries[t]["extract"].split()) <= 300]
    chosen = sorted(random.Random(SEED).sample(pool, args.n))
    print(f"{len(checked)} check passages left out; {len(pool)} in the pool; {len(chosen)} chosen")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in range(args.parts):
        with open(out / f"part-{part + 1}.txt", "w", encoding="utf-8") as fh:
            for title in chosen[part :: args.parts]:
                fh.write(f"### {title}\n{summaries[title]['extract']}\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
