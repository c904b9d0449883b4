"""How often the default abstention would refuse SQuAD-style questions, whose gold paragraph is in the collection:
the share of the check's questions whose best fused passage scores below the threshold, searched over all of
`wiki-vital` and over the check's own paragraphs (the collection `rag eval answers` builds for it).

    python docs/experiments/squad-check/build.py --split dev --out /tmp/vital-squad-dev.json
    python docs/experiments/abstention/squad_refusals.py --dataset /tmp/vital-squad-dev.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.corpus import dataset_collection  # noqa: E402
from rag.config import ABSTAIN_SCORE, Settings  # noqa: E402
from rag.retrieval import open_collection, open_retriever  # noqa: E402
from retrievers.datasets import load_dataset  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="a SQuAD-style check file (squad-check/build.py)")
    parser.add_argument("--threshold", type=float, default=ABSTAIN_SCORE)
    args = parser.parse_args()
    settings = Settings()
    dataset = load_dataset(f"squad:{args.dataset}")
    for name in ("wiki-vital", dataset_collection(settings, dataset)):
        retriever = open_retriever(settings, open_collection(settings, name))
        refused = sum(retriever.search(q.question, 1)[0][1] < args.threshold for q in dataset.questions)
        print(f"{name}: {refused} of {len(dataset.questions)} questions refused "
              f"({100 * refused / len(dataset.questions):.1f}%) below {args.threshold:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
