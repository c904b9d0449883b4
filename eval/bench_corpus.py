"""The benchmark's corpora: the built-in corpus as records, seeded samples of it, and larger corpora made of
perturbed copies (about one word in ten dropped, titles marked "variant N")."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path


def builtin_records() -> list[dict]:
    """The built-in corpus as records `{"id", "title", "text"}`, exactly the passages `rag ingest wiki-vital` makes."""
    from rag.documents.loaders import discover, load

    loaded = load(discover(["wiki-vital"]).inputs[0])
    assert loaded is not None
    return [
        {"id": u.extra.get("doc_id", u.title), "title": u.title, "text": u.text, "topic": u.extra.get("topic", "")}
        for u in loaded.units
    ]


def corpus_records(size: int, base: Sequence[dict]) -> list[dict]:
    """`size` records: a seeded sample of `base`, or `base` followed by perturbed copies of it."""
    if size <= len(base):
        picked = sorted(random.Random(0).sample(range(len(base)), size))
        return [base[i] for i in picked]
    out = list(base)
    copy = 0
    while len(out) < size:
        copy += 1
        rng = random.Random(copy)
        for record in base[: size - len(out)]:
            words = record["text"].split()
            kept = [w for w in words if rng.random() >= 0.1] or words[:1]
            title = f"{record['title']} (variant {copy})"
            out.append({"id": f"{record['id']}~{copy}", "title": title, "text": f"{title}. {' '.join(kept)}"})
    return out


def write_corpus(records: Sequence[dict], path: Path) -> Path:
    """The records as a JSONL file that `rag ingest` reads."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    return path
