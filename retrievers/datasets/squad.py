"""SQuAD v1.1 / v2.0 and XQuAD json: paragraphs are the documents, answers carry their offsets."""

from __future__ import annotations

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
    unique,
)


def load_squad(path: Path, data: Any) -> EvalDataset:
    """SQuAD v1.1 / v2.0 / XQuAD: each paragraph a document, each answerable question golden on its paragraph."""
    root = expect(data, dict, path, "top level")
    articles = expect(root.get("data", MISSING), list, path, "data")
    documents: list[Document] = []
    questions: list[EvalQuestion] = []
    skipped: Counter[str] = Counter()
    titles: set[str] = set()
    ids: set[str] = set()
    seen: set[str] = set()
    for a, article in enumerate(articles):
        at = f"data[{a}]"
        article = expect(article, dict, path, at)
        title = expect(article.get("title", MISSING), str, path, f"{at}.title")
        base = _unique_name(title, titles)
        for p, paragraph in enumerate(expect(article.get("paragraphs", MISSING), list, path, f"{at}.paragraphs")):
            at_p = f"{at}.paragraphs[{p}]"
            paragraph = expect(paragraph, dict, path, at_p)
            context = expect(paragraph.get("context", MISSING), str, path, f"{at_p}.context")
            doc = Document(f"{base}#{p}", title, context)
            documents.append(doc)
            for q, qa in enumerate(expect(paragraph.get("qas", MISSING), list, path, f"{at_p}.qas")):
                at_q = f"{at_p}.qas[{q}]"
                qa = expect(qa, dict, path, at_q)
                qid = str(expect(qa.get("id", MISSING), (str, int), path, f"{at_q}.id"))
                text = expect(qa.get("question", MISSING), str, path, f"{at_q}.question")
                spans = _squad_spans(qa, path, at_q)
                answers = unique(text for text, _ in spans)
                if qid in ids:
                    skipped["duplicate question"] += 1
                    continue
                ids.add(qid)
                if qa.get("is_impossible") or not answers:
                    skipped["unanswerable"] += 1
                    continue
                if reason := admit(text, seen):
                    skipped[reason] += 1
                    continue
                questions.append(EvalQuestion(qid, text.strip(), answers, {doc.id: 1}, spans=spans))
    return EvalDataset(path.stem, "squad", str(path), questions, documents, dict(skipped))


def _squad_spans(qa: dict[str, Any], path: Path, at: str) -> tuple[tuple[str, int], ...]:
    """The distinct non-empty answers of a SQuAD question as (text, answer_start), in order, the text stripped
    and its start moved with it (-1 where the file gives none); none for a v2 impossible one."""
    spans = []
    for i, answer in enumerate(expect(qa.get("answers", []), list, path, f"{at}.answers")):
        answer = expect(answer, dict, path, f"{at}.answers[{i}]")
        raw = expect(answer.get("text", MISSING), str, path, f"{at}.answers[{i}].text")
        start = answer.get("answer_start", -1)
        start = start if isinstance(start, int) and not isinstance(start, bool) and start >= 0 else -1
        text = raw.strip()
        if text:
            spans.append((text, start + len(raw) - len(raw.lstrip()) if start >= 0 else -1))
    return tuple(dict.fromkeys(spans))


def _unique_name(name: str, used: set[str]) -> str:
    """`name`, or `name~2`, `name~3`... when already used (two SQuAD articles may share a title)."""
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{name}~{n}"
    used.add(candidate)
    return candidate
