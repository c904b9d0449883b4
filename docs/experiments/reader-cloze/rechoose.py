"""Choose a saved reader's passage rule again, with the current rule (`choose_passage_rule`), and save it.

Readers trained before the rule became a sign test (the selection head only when clearly better)
kept whichever rule was ahead on the held-out questions, by however little:

    python docs/experiments/reader-cloze/rechoose.py models/reader-nq -c wiki-vital \
        --validation ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from rag.config import Settings  # noqa: E402
from rag.jobs.reader_training import MAX_VALIDATION_QUESTIONS, _Retrieval, nq_items  # noqa: E402
from retrievers.reader import READER_FILE, Reader  # noqa: E402
from retrievers.reader.evaluation import choose_passage_rule  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reader")
    parser.add_argument("-c", "--collection", required=True)
    parser.add_argument("--validation", required=True, help="NQ-open style held-out questions")
    parser.add_argument("--read", type=int, default=10)
    args = parser.parse_args()
    retrieve = _Retrieval(Settings(collection=args.collection), args.collection)
    try:
        items = nq_items(retrieve, args.validation, args.read, None, False)[:MAX_VALIDATION_QUESTIONS]
    finally:
        retrieve.close()
    reader = Reader(args.reader)
    choice = choose_passage_rule(reader, items)
    path = Path(args.reader) / READER_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    record["passage_choice"] = choice["chosen"]
    record["training"]["passage_choice"] = choice
    path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(json.dumps(choice, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
