"""Pick the wiki-vital passages the SQuAD-style check writes its questions over.

The check (questions.jsonl beside this file) holds questions written over one passage each, SQuAD's
way: the writer reads the paragraph and asks about it, and the answer is a span of it. Passages the
shipped models trained on are left out: the highest-ranked BM25 passage holding an answer of an
NQ-open dev question (the DPR encoder's positives and the reader's silver paragraphs), and all of
the top 5 of each. Very short passages (under 50 words) are left out too.

    python docs/experiments/squad-check/sample.py --qa ../shared/data/nq-open/NQ-open.dev.jsonl \
        --n 360 --parts 4 --out /tmp/squadgen
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from rag.documents.loaders import _wiki_vital_file  # noqa: E402
from retrievers.answer_text import has_answer, read_qa  # noqa: E402
from retrievers.stores import BM25Index  # noqa: E402

SEED = 2026


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qa", required=True, help="the training questions (NQ-open dev jsonl)")
    parser.add_argument("--n", type=int, default=360)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    summaries = json.loads(_wiki_vital_file().read_text(encoding="utf-8"))
    titles = sorted(summaries)
    texts = [f"{t}. {summaries[t]['extract']}" for t in titles]
    bm25 = BM25Index.build([str(i) for i in range(len(texts))], texts)
    seen: set[int] = set()
    for q in read_qa(args.qa, strict=True).questions:
        ranked = [int(pid) for pid, _ in bm25.search(q.question, 100)]
        seen.update(ranked[:5])
        positive = next((i for i in ranked if has_answer(texts[i], q.answers)), None)
        if positive is not None:
            seen.add(positive)
    pool = [i for i in range(len(titles)) if i not in seen and len(summaries[titles[i]]["extract"].split()) >= 50]
    chosen = sorted(random.Random(SEED).sample(pool, args.n))
    print(f"{len(seen)} passages left out as seen in training; {len(pool)} left; {len(chosen)} chosen")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in range(args.parts):
        mine = chosen[part :: args.parts]
        with open(out / f"part-{part + 1}.txt", "w", encoding="utf-8") as fh:
            for i in mine:
                fh.write(f"### {titles[i]}\n{summaries[titles[i]]['extract']}\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
