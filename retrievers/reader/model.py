"""DPR's reader: an extractive answer-span model over the retrieved passages.

One BERT-style encoder reads `[CLS] question [SEP] passage [SEP]` for each retrieved passage; a
linear layer gives start and end logits per token (the span), another scores the `[CLS]` vector
(how likely the passage holds the answer: DPR's passage selection). The answer is the best span
of the best-scored passage, so it is always a substring of a cited passage. The encoder starts
from a shipped model (all-MiniLM-L6-v2's BERT weights) and the heads are trained by
`retrievers.reader.training` (distant supervision, DPR section 6).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..encoders import DEFAULT_MODEL, resolve_model_path
from ..encoders.lora import load_delta, merge_lora
from ..encoders.shipped import register_builder
from ..errors import ModelNotFound

READER_FILE = "reader.json"
HEADS_FILE = "reader_heads.pt"
FORMAT = "rag-reader"
# How the answer's passage is chosen: DPR's selection head, or the retriever's order (the inputs'),
# which a reader trained on little data does better with; training keeps the selection head only when
# it is clearly better on held-out questions (`evaluation.choose_passage_rule`).
PASSAGE_CHOICES = ("selection", "retriever")


@dataclass
class AnswerSpan:
    """An extracted answer: `text` is `context[start:end]` of passage `passage` (an index into the inputs)."""

    text: str
    passage: int
    start: int
    end: int
    score: float  # start + end logit of the span
    passage_score: float  # the selection logit of its passage
    check: float | None = None  # a second model's mean log-probability of replying with it (`rerank`)

    def to_dict(self) -> dict:
        return asdict(self)


class Reader:
    """Question + passages -> the best answer span, with its passage and scores.

    `model` is a reader directory saved by `save` (encoder, heads, tokenizer), or any BERT-like
    model directory or shipped name, whose heads then start untrained (for training).
    `max_length` bounds question + passage tokens; longer passages are cut. `passage_choice`
    (one of `PASSAGE_CHOICES`) says how `read` picks the answer's passage; a saved reader's record
    sets it, and "selection" is DPR's. One reading runs at a time: on a CPU one forward pass already
    uses every core, so concurrent ones only multiply the activations held (and the fast tokenizer
    refuses concurrent use).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        max_length: int = 256,
        max_answer_tokens: int = 10,
        device: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # weight-loading bars on every load
        path = resolve_model_path(model)
        self.path = path
        record = read_reader_record(path)
        source = path
        if record is None and (path / "0_Transformer").is_dir():  # a sentence-transformers layout with a subfolder
            source = path / "0_Transformer"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
            self.encoder = AutoModel.from_pretrained(str(source), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelNotFound(f"cannot load a reader or BERT-like model from {path}: {exc}") from None
        if not getattr(self.tokenizer, "is_fast", False):
            raise ModelNotFound(f"{path} has no fast tokenizer (tokenizer.json): the reader needs character offsets")
        hidden = int(self.encoder.config.hidden_size)
        self.span_head = torch.nn.Linear(hidden, 2)
        self.select_head = torch.nn.Linear(hidden, 1)
        self.trained = False
        self.passage_choice = "selection"
        if record is not None:
            heads = torch.load(path / HEADS_FILE, map_location="cpu", weights_only=True)
            self.span_head.load_state_dict(heads["span"])
            self.select_head.load_state_dict(heads["select"])
            max_length = int(record.get("max_length", max_length))
            max_answer_tokens = int(record.get("max_answer_tokens", max_answer_tokens))
            if record.get("passage_choice") in PASSAGE_CHOICES:
                self.passage_choice = record["passage_choice"]
            self.trained = True
        self.record = record or {}
        self.max_length = max_length
        self.max_answer_tokens = max_answer_tokens
        self.device = device or "cpu"
        self._reading = threading.Lock()
        self.to(self.device)
        self.eval()

    # -- torch plumbing ------------------------------------------------------------------------

    def modules(self) -> list[Any]:
        return [self.encoder, self.span_head, self.select_head]

    def parameters(self) -> list[Any]:
        return [p for m in self.modules() for p in m.parameters()]

    def to(self, device: str) -> "Reader":
        for m in self.modules():
            m.to(device)
        self.device = device
        return self

    def train(self) -> None:
        for m in self.modules():
            m.train()

    def eval(self) -> None:
        for m in self.modules():
            m.eval()

    # -- encoding ------------------------------------------------------------------------------

    def tokenize(self, question: str | Sequence[str], contexts: Sequence[str]) -> Any:
        """Question-passage pairs (one question for all, or one per passage), the passage cut to fit,
        with character offsets into each context."""
        questions = [question] * len(contexts) if isinstance(question, str) else list(question)
        return self.tokenizer(
            questions,
            list(contexts),
            truncation="only_second",
            max_length=self.max_length,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )

    def forward(self, batch: Any) -> tuple[Any, Any, Any]:
        """(start logits, end logits, selection logits) for a tokenized batch; non-passage tokens masked out."""

        inputs = {k: batch[k].to(self.device) for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        hidden = self.encoder(**inputs).last_hidden_state
        logits = self.span_head(hidden)
        start, end = logits[..., 0], logits[..., 1]
        mask = passage_token_mask(batch).to(self.device)
        start = start.masked_fill(~mask, -1e4)
        end = end.masked_fill(~mask, -1e4)
        select = self.select_head(hidden[:, 0]).squeeze(-1)
        return start, end, select

    # -- reading -------------------------------------------------------------------------------

    def score(self, question: str, contexts: Sequence[str]) -> "Reading | None":
        """The start, end and selection logits of `question` over `contexts` (one batch); None when
        there is nothing to read."""
        import torch

        if not contexts or not question.strip():
            return None
        with self._reading:
            batch = self.tokenize(question, contexts)
            with torch.inference_mode():
                start, end, select = self.forward(batch)
        return Reading(
            list(contexts),
            start.cpu().numpy(),
            end.cpu().numpy(),
            select.cpu().numpy(),
            batch["offset_mapping"].numpy(),
            passage_token_mask(batch).numpy(),
            self.max_answer_tokens,
        )

    def read(self, question: str, contexts: Sequence[str], *, top_spans: int = 1) -> list[AnswerSpan]:
        """The best spans for `question` over `contexts` (one batch), best first.

        As in DPR, passages are ranked by their selection score (or, with `passage_choice`
        "retriever", kept in the order given) and spans are taken from the first passage first;
        `top_spans > 1` adds the next best spans, of that passage first. In the retriever's order the
        passages are read one at a time until the spans are found, so the first one is usually all
        that is read.
        """
        if self.passage_choice == "retriever":  # the answer comes from the first passage with a span: read no more
            spans: list[AnswerSpan] = []
            for p, context in enumerate(contexts):
                reading = self.score(question, [context])
                if reading is None:
                    break
                spans += [replace(s, passage=p) for s in reading.spans(0, top_spans - len(spans))]
                if len(spans) >= top_spans:
                    break
            return spans
        reading = self.score(question, contexts)
        return reading.best(self.passage_choice, top_spans) if reading is not None else []

    # -- saving --------------------------------------------------------------------------------

    def save(self, out_dir: str | os.PathLike[str], record: dict | None = None) -> Path:
        """Write the encoder, tokenizer, heads and `reader.json` into `out_dir`."""
        import torch

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.encoder.save_pretrained(str(out))
        self.tokenizer.save_pretrained(str(out))
        torch.save({"span": self.span_head.state_dict(), "select": self.select_head.state_dict()}, out / HEADS_FILE)
        info = {
            "format": FORMAT,
            "max_length": self.max_length,
            "max_answer_tokens": self.max_answer_tokens,
            "passage_choice": self.passage_choice,
            **(record or {}),
        }
        tmp = out / f"{READER_FILE}.tmp"
        tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
        os.replace(tmp, out / READER_FILE)  # written last: its presence marks a finished reader
        return out

    def __repr__(self) -> str:
        return f"Reader({str(self.path)!r}, trained={self.trained}, passage_choice={self.passage_choice!r})"


@dataclass
class Reading:
    """One question's logits over its passages (`Reader.score`); spans are found per passage on demand."""

    contexts: list[str]
    start: np.ndarray
    end: np.ndarray
    select: np.ndarray  # one selection logit per passage
    offsets: np.ndarray
    mask: np.ndarray
    max_answer_tokens: int

    def best(self, rule: str, k: int = 1) -> list[AnswerSpan]:
        """The `k` best spans with the answer's passage chosen by `rule` (one of `PASSAGE_CHOICES`):
        spans of the first passage first, then of the next."""
        order = np.argsort(-self.select, kind="stable") if rule == "selection" else range(len(self.contexts))
        spans: list[AnswerSpan] = []
        for p in order:
            spans.extend(self.spans(int(p), k))
            if len(spans) >= k:
                break
        return spans[:k]

    def spans(self, p: int, k: int = 1) -> list[AnswerSpan]:
        """The `k` best non-empty spans of passage `p`, best first."""
        out = []
        for s, e, score in best_spans(self.start[p], self.end[p], self.mask[p], self.max_answer_tokens, k):
            a, b = int(self.offsets[p][s][0]), int(self.offsets[p][e][1])
            text = self.contexts[p][a:b].strip()
            if text:
                out.append(
                    AnswerSpan(
                        text=text, passage=p, start=a, end=b, score=float(score), passage_score=float(self.select[p])
                    )
                )
        return out


def rerank(spans: Sequence[AnswerSpan], checks: Sequence[float], weight: float = 1.0) -> list[AnswerSpan]:
    """Candidate spans of one question, best first by the reader and a second model together: the log
    softmax of the reader's scores over the candidates plus `weight` times `checks` (the second model's
    mean token log-probability of answering with each span). With weight 1 this is the product of the
    two models' beliefs; each returned span carries its check."""
    if len(checks) != len(spans):
        raise ValueError(f"{len(spans)} spans but {len(checks)} checks")
    if not spans:
        return []
    scores = np.array([s.score for s in spans], dtype=np.float64)
    scores -= scores.max()
    combined = scores - np.log(np.exp(scores).sum()) + weight * np.asarray(checks, dtype=np.float64)
    order = np.argsort(-combined, kind="stable")
    return [replace(spans[i], check=float(checks[i])) for i in order]


def read_reader_record(path: str | os.PathLike[str]) -> dict | None:
    """A saved reader's record, or None for a folder that holds no finished reader."""
    try:
        record = json.loads((Path(path) / READER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def passage_token_mask(batch: Any) -> Any:
    """True at the tokens of the passage (the second sequence), False at the question, specials and padding."""
    import torch

    rows = [[sid == 1 for sid in batch.sequence_ids(i)] for i in range(len(batch["input_ids"]))]
    return torch.tensor(rows, dtype=torch.bool)


def best_spans(
    start: np.ndarray, end: np.ndarray, mask: np.ndarray, max_tokens: int, k: int = 1
) -> list[tuple[int, int, float]]:
    """The `k` best (start, end, score) token spans with start <= end < start + max_tokens, inside `mask`,
    none overlapping a better one."""
    allowed = np.flatnonzero(mask)
    if not len(allowed):
        return []
    candidates = []
    for s in allowed:
        stop = min(len(end), s + max_tokens)
        window = end[s:stop]
        ok = mask[s:stop]
        for offset in np.flatnonzero(ok):
            candidates.append((float(start[s] + window[offset]), int(s), int(s + offset)))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    chosen: list[tuple[int, int, float]] = []
    for score, s, e in candidates:
        if any(not (e < cs or s > ce) for cs, ce, _ in chosen):
            continue
        chosen.append((s, e, score))
        if len(chosen) >= k:
            break
    return chosen


def build_shipped_reader(source: Path, out: Path, record: dict, base: Path) -> None:
    """Write the reader of shipped model folder `source` into `out`: its LoRA delta merged into the base
    model's encoder, its trained heads and its settings (`encoders.shipped` calls this on first use)."""
    import torch

    state, spec = load_delta(source)
    reader = Reader(base)
    merge_lora(reader.encoder, state, spec)
    heads = torch.load(source / HEADS_FILE, map_location="cpu", weights_only=True)
    reader.span_head.load_state_dict(heads["span"])
    reader.select_head.load_state_dict(heads["select"])
    saved = json.loads((source / READER_FILE).read_text(encoding="utf-8"))
    reader.max_length = int(saved.get("max_length", reader.max_length))
    reader.max_answer_tokens = int(saved.get("max_answer_tokens", reader.max_answer_tokens))
    reader.passage_choice = saved.get("passage_choice", reader.passage_choice)
    reader.save(
        out,
        {k: v for k, v in saved.items() if k not in ("format", "max_length", "max_answer_tokens", "passage_choice")},
    )


register_builder("reader", build_shipped_reader)
