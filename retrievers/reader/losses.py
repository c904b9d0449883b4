"""The reader's losses (DPR section 6): the marginal likelihood of every gold span in the positive passage,
plus a cross-entropy that puts the positive's selection score above the negatives'."""

from __future__ import annotations

import random
from typing import Any, Sequence

from .labels import ReaderExample
from .model import Reader


def token_spans(batch: Any, row: int, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Character spans of the passage in `row` as token spans; spans cut off by truncation are dropped."""
    out = []
    for start, end in spans:
        s = batch.char_to_token(row, start, sequence_index=1)
        e = batch.char_to_token(row, end - 1, sequence_index=1)
        if s is not None and e is not None and s <= e:
            out.append((s, e))
    return out


def marginal_span_loss(start: Any, end: Any, gold: Sequence[tuple[int, int]]) -> Any:
    """-log of the summed probability of the gold token spans, from one passage's start and end logits."""
    import torch

    log_start, log_end = torch.log_softmax(start, dim=-1), torch.log_softmax(end, dim=-1)
    return -torch.logsumexp(torch.stack([log_start[s] + log_end[e] for s, e in gold]), dim=0)


def example_loss(reader: Reader, example: ReaderExample, passages: int, rng: random.Random) -> Any:
    """The loss of one question (None when truncation cut every gold span out of its positive)."""
    import torch

    context, spans = rng.choice(example.positives)
    contexts = [context] + example.negatives[: passages - 1]
    batch = reader.tokenize(example.question, contexts)
    gold = token_spans(batch, 0, spans)
    if not gold:
        return None
    start, end, select = reader.forward(batch)
    span_loss = marginal_span_loss(start[0], end[0], gold)
    if len(contexts) == 1:
        return span_loss
    select_loss = torch.nn.functional.cross_entropy(
        select.unsqueeze(0), torch.zeros(1, dtype=torch.long, device=select.device)
    )
    return span_loss + select_loss


def span_loss_batch(reader: Reader, examples: Sequence[ReaderExample]) -> Any:
    """Mean span loss of single-passage examples read in one batch (each its first positive), or None
    when truncation cut every gold span out."""
    import torch

    batch = reader.tokenize([e.question for e in examples], [e.positives[0][0] for e in examples])
    start, end, _ = reader.forward(batch)
    losses = []
    for row, example in enumerate(examples):
        gold = token_spans(batch, row, example.positives[0][1])
        if gold:
            losses.append(marginal_span_loss(start[row], end[row], gold))
    return torch.stack(losses).mean() if losses else None
