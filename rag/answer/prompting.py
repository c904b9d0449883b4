"""Text fitting for prompts: passages packed into a token budget, a passage cut to it, a condensed question
cleaned of the model's labels."""

from __future__ import annotations

import re
from typing import Any, Sequence

from .citations import format_passage
from .types import Source


def fit_tokens(text: str, tokens: int, count: Any) -> str:
    """Cut text to about `tokens` tokens, on a word boundary."""
    total = count(text)
    if total <= tokens:
        return text
    words = text.split(" ")
    keep = max(1, int(len(words) * tokens / total) - 1)
    while keep > 1 and count(" ".join(words[:keep])) > tokens:
        keep = int(keep * 0.9)
    return " ".join(words[:keep])


def clean_question(text: str, fallback: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(standalone question|question)\s*:\s*", "", line, flags=re.IGNORECASE).strip(" \"'")
    if not line or len(line) > 3 * len(fallback) + 200:
        return fallback
    return line


def pack_passages(sources: Sequence[Source], budget: int, count: Any) -> tuple[list[str], list[Source]]:
    """The passages' prompt blocks, in order, while they fit `budget` tokens; the first that does not fit is cut
    to the room left (when there is some), as part of a passage is better than nothing."""
    blocks: list[str] = []
    used: list[Source] = []
    for source in sources:
        block = format_passage(source.n, source.passage)
        cost = count(block) + 1
        if cost > budget:
            if budget > 48:
                blocks.append(fit_tokens(block, budget, count) + "\n</passage>")
                used.append(source)
            break
        blocks.append(block)
        used.append(source)
        budget -= cost
    return blocks, used
