"""Per question, what the shipped reader sees in each passage it would read: the `[CLS]` vector, the best span's
start + end logit, the log-sum-exp of the start and end logits over the passage's tokens and the selection
logit; with whether each passage holds a gold answer, and the retriever's features beside them.

    python docs/experiments/abstention-model/reader_features.py --qa ../shared/data/nq-open/NQ-open.dev.jsonl \
        -c wiki-vital --max-answer-passages 5 --out build/abstention/train-reader.npz
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from eval.nq_vital import read_nq_open  # noqa: E402
from rag.assembly import open_collection, open_retriever  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.reader import load_reader  # noqa: E402
from retrievers.answer_text import answer_passage_counts, has_answer, normalize  # noqa: E402
from retrievers.reader.model import Reading, passage_token_mask  # noqa: E402


def read(reader, question: str, contexts: list[str]) -> dict:
    batch = reader.tokenize(question, contexts)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    with torch.inference_mode():
        hidden = reader.encoder(**inputs).last_hidden_state
        logits = reader.span_head(hidden)
        mask = passage_token_mask(batch)
        start = logits[..., 0].masked_fill(~mask, -1e4)
        end = logits[..., 1].masked_fill(~mask, -1e4)
        select = reader.select_head(hidden[:, 0]).squeeze(-1)
        cls_null = logits[:, 0, 0] + logits[:, 0, 1]
    reading_spans = []
    reading = Reading(list(contexts), start.numpy(), end.numpy(), select.numpy(), batch["offset_mapping"].numpy(),
                      mask.numpy(), reader.max_answer_tokens)
    for p in range(len(contexts)):
        best = reading.spans(p, 1)
        reading_spans.append(best[0].score if best else -1e4)
    return {"cls": hidden[:, 0].numpy().astype(np.float16), "span": np.array(reading_spans, dtype=np.float32),
            "lse": (torch.logsumexp(start, -1) + torch.logsumexp(end, -1)).numpy(),
            "select": select.numpy(), "null": cls_null.numpy()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", required=True)
    parser.add_argument("-c", "--collection", default="wiki-vital")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--read", type=int, default=10, help="passages the reader reads (RAG_READER_K)")
    parser.add_argument("--max-answer-passages", type=int, default=5)
    parser.add_argument("--only-answered", action="store_true", help="nq-vital's selection: answers in >= 1 passage")
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = Settings(collection=args.collection)
    retriever = open_retriever(settings, open_collection(settings, args.collection))
    reader = load_reader(settings.reader)
    questions = read_nq_open(args.qa)
    texts = [p.indexed_text for p in retriever.collection.passages()]
    counts = answer_passage_counts(questions, texts)
    low = 1 if args.only_answered else 0
    kept = [(q, c) for q, c in zip(questions, counts) if low <= c <= args.max_answer_passages]
    retriever.prime([q.question for q, _ in kept])
    rows: dict[str, list] = {k: [] for k in ("fused", "dense", "bm25", "has", "cls", "span", "lse", "select", "null")}
    started = time.perf_counter()
    for i, (q, _) in enumerate(kept):
        hits = retriever.search(q.question, args.read)
        vector = retriever.dense.encode_query(q.question)
        contexts = [p.indexed_text for p, _ in hits]
        rows["fused"].append([s for _, s in hits])
        rows["dense"].append([s for _, s in retriever.dense.search_ids(vector, 5)])
        rows["bm25"].append(([s for _, s in retriever.sparse.search_ids(q.question, 5)] + [0.0] * 5)[:5])
        rows["has"].append([has_answer(q.answers, normalize(c)) for c in contexts])
        for k, v in read(reader, q.question, contexts).items():
            rows[k].append(v)
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(kept)} questions, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, questions=np.array([q.question for q, _ in kept]),
             answers=np.array(["\t".join(q.answers) for q, _ in kept]), counts=np.array([c for _, c in kept]),
             **{k: np.asarray(v) for k, v in rows.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
