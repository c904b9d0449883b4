"""Text fitting for prompts: a passage cut to a token budget, a condensed question cleaned of the model's
labels, a refusal recognised in an answer."""

from __future__ import annotations

import re
from typing import Any


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


def is_refusal(text: str, refusal: str) -> bool:
    low = text.lower()
    return refusal.lower().rstrip(".") in low or low.startswith(("i don't know", "i do not know"))
