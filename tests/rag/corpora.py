"""Generated corpora for the reliability tests: many short records, so an ingest spans several Chroma writes."""

import json
import random

WORDS = (
    "river mountain city empire planet engine novel painter treaty harbour glacier theorem orchestra "
    "volcano cathedral railway senate desert comet island"
).split()


def write_records(folder, files=4, records=300, seed=0, prefix="r"):
    """`files` JSONL files of `records` twelve-word records each, drawn from `WORDS`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for f in range(files):
        lines = [
            json.dumps(
                {
                    "id": f"{prefix}{f}-{i}",
                    "title": f"record {prefix}{f}-{i}",
                    "text": " ".join(rng.choice(WORDS) for _ in range(12)),
                }
            )
            for i in range(records)
        ]
        (folder / f"part{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
