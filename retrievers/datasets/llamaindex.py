"""LlamaIndex LabelledRagDataset json: reference contexts are the documents, examples the questions."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from .base import (
    MISSING,
    Document,
    EvalDataset,
    EvalQuestion,
    admit,
    expect,
)


def load_llamaindex(path: Path, data: Any) -> EvalDataset:
    """A LabelledRagDataset: the distinct reference contexts are the documents, each example a question on them."""
    root = expect(data, dict, path, "top level")
    examples = expect(root.get("examples", MISSING), list, path, "examples")
    documents: dict[str, Document] = {}
    questions: list[EvalQuestion] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for i, example in enumerate(examples):
        at = f"examples[{i}]"
        example = expect(example, dict, path, at)
        query = expect(example.get("query", MISSING), str, path, f"{at}.query")
        gold: dict[str, int] = {}
        contexts = example.get("reference_contexts") or []
        for j, context in enumerate(expect(contexts, list, path, f"{at}.reference_contexts")):
            context = expect(context, str, path, f"{at}.reference_contexts[{j}]")
            if context.strip():
                doc_id = "ctx-" + hashlib.sha1(context.encode("utf-8")).hexdigest()[:12]
                documents.setdefault(doc_id, Document(doc_id, "", context))
                gold[doc_id] = 1
        answer = example.get("reference_answer")
        if answer is not None:
            expect(answer, str, path, f"{at}.reference_answer")
        if reason := admit(query, seen):
            skipped[reason] += 1
            continue
        questions.append(EvalQuestion(f"e{i + 1}", query.strip(), (), gold, answer))
    return EvalDataset(path.stem, "llamaindex", str(path), questions, list(documents.values()), dict(skipped))
