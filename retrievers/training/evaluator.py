"""DPR's top-k accuracy on held-out questions, as the sentence-transformers trainer's evaluator."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

from ..answer_text import has_answer, normalize
from .validation import ValidationSet


class AccuracyEvaluator(BaseEvaluator):
    """DPR's top-k accuracy on held-out questions against a passage pool, for the trainer.

    A retrieved passage counts when it contains a normalised answer (or, for explicit pairs without
    answers, when it is the question's positive). The primary metric is MRR@20, which moves more
    smoothly than a single top-k on a few hundred questions.
    """

    def __init__(
        self, data: ValidationSet, ks: Sequence[int] = (1, 5, 20), batch_size: int = 64, name: str = "heldout"
    ) -> None:
        super().__init__()
        self.data = data
        self.ks = tuple(ks)
        self.batch_size = batch_size
        self.name = name
        self.greater_is_better = True
        self.primary_metric = f"{name}_mrr@20"
        norm = [normalize(p) for p in data.corpus]
        index = {p: i for i, p in enumerate(data.corpus)}
        self._relevant = []
        for answers, positive in zip(data.answers, data.positives):
            rel = {i for i, p in enumerate(norm) if answers and has_answer(answers, p)}
            if not answers and positive in index:
                rel.add(index[positive])
            self._relevant.append(rel)

    def __call__(self, model: Any, output_path: str | None = None, epoch: float = -1, steps: int = -1) -> dict:
        return self.prefixed(self.evaluate(model.encode_query, model.encode_document))

    def evaluate(self, encode_query: Callable, encode_document: Callable) -> dict[str, float]:
        options = {
            "batch_size": self.batch_size,
            "normalize_embeddings": True,
            "convert_to_numpy": True,
            "show_progress_bar": False,
        }
        docs = np.asarray(encode_document(self.data.corpus, **options), dtype=np.float32)
        queries = np.asarray(encode_query(self.data.questions, **options), dtype=np.float32)
        depth = max(max(self.ks), 20)
        scores = queries @ docs.T
        top = np.argsort(-scores, axis=1)[:, :depth]
        firsts = [next((r for r, i in enumerate(row) if i in rel), None) for row, rel in zip(top, self._relevant)]
        n = max(1, len(firsts))
        out = {f"top{k}": 100.0 * sum(f is not None and f < k for f in firsts) / n for k in self.ks}
        out["mrr@20"] = sum(1.0 / (f + 1) for f in firsts if f is not None and f < 20) / n
        return out

    def prefixed(self, metrics: dict[str, float]) -> dict[str, float]:
        return {f"{self.name}_{k}": float(v) for k, v in metrics.items()}
