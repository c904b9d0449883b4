"""Each reader's null score as an abstention signal on the nq-vital validation questions, beside the shipped rule
(the best passage's fused score), and what the reader's own span scores there.

    python docs/experiments/reader-no-answer/evaluate.py --qa ../shared/data/nq-open/NQ-open.efficientqa.dev.1.1.jsonl \
        -c wiki-vital reader-nq build/models/reader-null

Per question the reader reads the 10 passages the default path retrieves; its answer is the best span of the
first passage (the shipped reader's `passage_choice` "retriever"; no span check). The null margin of a passage is
its best span's start + end logit minus `start[CLS] + end[CLS]`. Scores are reported as in
`docs/experiments/abstention-model/analyse.py`: at the threshold refusing 70% of the questions with no answer
in the passages read, over all of them and chosen on one half, applied to the other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train import logits_with_null  # noqa: E402

from eval.nq_vital import read_nq_open, select  # noqa: E402
from rag.assembly import open_collection, open_retriever  # noqa: E402
from rag.config import Settings  # noqa: E402
from retrievers.answer_text import has_answer, normalize, token_f1  # noqa: E402
from retrievers.reader import Reader  # noqa: E402
from retrievers.reader.model import Reading, passage_token_mask  # noqa: E402


def report(name: str, s: np.ndarray, f1: np.ndarray, answerable: np.ndarray) -> None:
    right = f1 >= 0.5
    mask = right | ~answerable
    threshold = np.quantile(s[~answerable], 0.70)
    lost = (f1[answerable] * (s[answerable] < threshold)).sum() / answerable.sum() * 100
    halves = []
    for half in (1, 0):
        chosen = np.arange(len(s)) % 2 == half
        t = np.quantile(s[chosen & ~answerable], 0.70)
        a = ~chosen & answerable
        halves.append(f"{(s[~chosen & ~answerable] < t).mean() * 100:.0f}% refused, F1 -{(f1[a] * (s[a] < t)).mean() * 100:.1f}")
    print(f"| {name} | {roc_auc_score(right[mask], s[mask]):.3f} | {lost:.1f} | {(right & (s >= threshold)).sum()} / "
          f"{right.sum()} | {halves[0]} | {halves[1]} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--read", type=int, default=10)
    parser.add_argument("readers", nargs="+")
    args = parser.parse_args()
    settings = Settings(collection=args.collection)
    retriever = open_retriever(settings, open_collection(settings, args.collection))
    questions = select(read_nq_open(args.qa), [p.indexed_text for p in retriever.collection.passages()], 5)
    retriever.prime([q.question for q in questions])
    runs = [(q, retriever.search(q.question, args.read)) for q in questions]
    answerable = np.array([any(has_answer(q.answers, normalize(p.indexed_text)) for p, _ in hits) for q, hits in runs])
    fused = np.array([hits[0][1] for _, hits in runs])
    print(f"{len(runs)} questions, {(~answerable).sum()} with no answer in the {args.read} passages read")
    for path in args.readers:
        reader = Reader(path)
        f1, first, best = [], [], []
        for q, hits in runs:
            contexts = [p.indexed_text for p, _ in hits]
            batch = reader.tokenize(q.question, contexts)
            with torch.inference_mode():
                start, end = logits_with_null(reader, batch)
            null = (start[:, 0] + end[:, 0]).numpy()
            s, e = start.clone(), end.clone()
            s[:, 0] = e[:, 0] = -1e4
            reading = Reading(contexts, s.numpy(), e.numpy(), np.zeros(len(contexts)), batch["offset_mapping"].numpy(),
                              passage_token_mask(batch).numpy(), reader.max_answer_tokens)
            spans = [reading.spans(p, 1) for p in range(len(contexts))]
            margins = np.array([(sp[0].score if sp else -1e4) - n for sp, n in zip(spans, null)])
            f1.append(token_f1(spans[0][0].text, q.answers) if spans[0] else 0.0)
            first.append(margins[0])
            best.append(margins.max())
        f1 = np.array(f1)
        a = answerable
        print(f"\n{path}: span of the first passage, answerable questions: F1 {f1[a].mean() * 100:.1f}, "
              f"{(f1[a] >= 0.5).sum()} right of {a.sum()}")
        print("| score | AUC right vs unanswerable | F1 lost at 70% refused | right kept | odd -> even | even -> odd |")
        print("|---|---|---|---|---|---|")
        report("fused score of the best passage", fused, f1, a)
        report("null margin, first passage", np.array(first), f1, a)
        report("null margin, best of the passages read", np.array(best), f1, a)
        z = lambda x: (x - x.mean()) / x.std()  # noqa: E731
        report("z(fused) + z(null margin, first passage)", z(fused) + z(np.array(first)), f1, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
