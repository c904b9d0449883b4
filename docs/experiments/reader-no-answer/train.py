"""Teach the shipped reader to say "no answer" (SQuAD 2.0's recipe): passages without a gold answer get the
`[CLS]` position as their span, so `start[CLS] + end[CLS]` (the null score) against the best span's score tells
whether the passage answers the question.

Starting from the shipped `reader-nq` (merged, every weight trained), one pass over:
- NQ-open dev questions with a gold answer in their 10 read passages: the first such passage, every occurrence
  of the answer a gold span; and the best-ranked passage without one, target `[CLS]`;
- NQ-open dev questions with none (the answers in at most `--max-answer-passages` collection passages, or in
  none): their first passage, target `[CLS]` (at most `--unanswerable` of them);
- the SQuAD-style training questions (`docs/experiments/squad-train/build.py`), so the span skill is kept.

    python docs/experiments/reader-no-answer/train.py --qa ../shared/data/nq-open/NQ-open.dev.jsonl \
        --squad build/vital-squad-train/train.json -c wiki-vital --out build/models/reader-null
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.nq_vital import read_nq_open  # noqa: E402
from rag.assembly import open_collection, open_retriever  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.reader import load_reader  # noqa: E402
from retrievers.answer_text import answer_passage_counts  # noqa: E402
from retrievers.reader.labels import answer_spans  # noqa: E402
from retrievers.reader.losses import token_spans  # noqa: E402
from retrievers.reader.model import passage_token_mask  # noqa: E402

NULL = [(0, 0)]


def logits_with_null(reader, batch):
    """Start and end logits over the passage's tokens and `[CLS]` (position 0); everything else masked."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    hidden = reader.encoder(**inputs).last_hidden_state
    logits = reader.span_head(hidden)
    mask = passage_token_mask(batch).clone()
    mask[:, 0] = True
    return logits[..., 0].masked_fill(~mask, -1e4), logits[..., 1].masked_fill(~mask, -1e4)


def items(args, retriever) -> list[tuple[str, str, list]]:
    """(question, passage, gold character spans; [] = no answer) training items."""
    rng = random.Random(args.seed)
    questions = read_nq_open(args.qa)
    counts = answer_passage_counts(questions, [p.indexed_text for p in retriever.collection.passages()])
    retriever.prime([q.question for q in questions])
    answered, unanswerable = [], []
    for q, count in zip(questions, counts):
        if count > args.max_answer_passages:
            continue
        contexts = [p.indexed_text for p, _ in retriever.search(q.question, args.read)]
        spans = [answer_spans(c, q.answers) for c in contexts]
        holding = [i for i, s in enumerate(spans) if s]
        if holding:
            answered.append((q.question, contexts[holding[0]], spans[holding[0]]))
            lacking = [i for i, s in enumerate(spans) if not s]
            if lacking:
                answered.append((q.question, contexts[lacking[0]], []))
        elif contexts:
            unanswerable.append((q.question, contexts[0], []))
    rng.shuffle(unanswerable)
    squad = []
    for article in json.loads(Path(args.squad).read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                a = qa["answers"][0]
                squad.append((qa["question"], paragraph["context"], [(a["answer_start"], a["answer_start"] + len(a["text"]))]))
    rng.shuffle(squad)
    out = answered + unanswerable[: args.unanswerable] + squad[: args.squad_questions]
    print(f"{len(answered)} NQ items from answered questions, {min(len(unanswerable), args.unanswerable)} unanswerable, "
          f"{min(len(squad), args.squad_questions)} SQuAD-style", file=sys.stderr, flush=True)
    rng.shuffle(out)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("--squad", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--read", type=int, default=10)
    parser.add_argument("--max-answer-passages", type=int, default=5)
    parser.add_argument("--unanswerable", type=int, default=800)
    parser.add_argument("--squad-questions", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    settings = Settings(collection=args.collection)
    retriever = open_retriever(settings, open_collection(settings, args.collection))
    reader = load_reader(settings.reader)
    data = items(args, retriever)
    optimizer = torch.optim.AdamW(reader.parameters(), lr=args.learning_rate, weight_decay=0.01)
    steps = (len(data) + args.batch_size - 1) // args.batch_size
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (0.1 * steps)) * max(0.0, 1 - s / steps))
    reader.train()
    started, losses = time.perf_counter(), []
    for step in range(steps):
        chunk = data[step * args.batch_size : (step + 1) * args.batch_size]
        batch = reader.tokenize([q for q, _, _ in chunk], [c for _, c, _ in chunk])
        start, end = logits_with_null(reader, batch)
        log_start, log_end = torch.log_softmax(start, -1), torch.log_softmax(end, -1)
        terms = []
        for row, (_, _, spans) in enumerate(chunk):
            gold = token_spans(batch, row, spans) if spans else NULL
            if not gold:
                continue
            terms.append(-torch.logsumexp(torch.stack([log_start[row, s] + log_end[row, e] for s, e in gold]), 0))
        if not terms:
            continue
        loss = torch.stack(terms).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reader.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 25 == 0:
            print(f"step {step + 1}/{steps} loss {sum(losses[-25:]) / 25:.3f} {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
    reader.eval()
    reader.save(args.out, {"no_answer": {"recipe": " ".join(sys.argv), "items": len(data), "losses": losses}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
