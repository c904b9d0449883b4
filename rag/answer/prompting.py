"""The answer prompt's messages, and text fitting for prompts: passages packed into a token budget, a passage cut
to it, a condensed question cleaned of the model's labels."""

from __future__ import annotations

import re
from typing import Any, Sequence

from prompts import PromptSet
from prompts.delimiters import passage_block

from .citations import format_passage
from .trimming import trimmed_sources
from .types import ShortAnswer, Source


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


SMALL_CONTEXT_SENTENCES = 3  # sentences kept per passage when whole passages do not fit the model's context


def build_messages(
    prompts: PromptSet,
    llm: Any,
    question: str,
    sources: Sequence[Source],
    *,
    short: ShortAnswer | None = None,
    hint: bool = False,
    trim_sentences: int = 0,
) -> tuple[list[dict[str, str]], list[Source]]:
    """The system and user messages, with as many passages as fit `llm`'s context (the last one cut if needed),
    each trimmed to `trim_sentences` sentences around the question and the reader's span when not 0, or to
    `SMALL_CONTEXT_SENTENCES` when whole passages would not all fit; with `hint`,
    the reader's span goes under the question if its passage made it into the prompt. Returns the messages and
    the (whole) sources they hold."""
    system = prompts.system.format(refusal=prompts.refusal.text)
    hinted = short if hint else None
    hint_text = "" if hinted is None else prompts.hint.format(answer=passage_block(hinted.text), source=hinted.source)
    budget = llm.context_window - llm.max_tokens - 64
    budget -= llm.count_tokens(system + prompts.qa.format(context="", question="") + hint_text)
    question = fit_tokens(question, max(16, budget // 4), llm.count_tokens)
    budget -= llm.count_tokens(question)
    if not trim_sentences and sum(llm.count_tokens(format_passage(s.n, s.passage)) + 1 for s in sources) > budget:
        trim_sentences = SMALL_CONTEXT_SENTENCES  # a small context: the passages' best sentences before a cut
    offered = trimmed_sources(sources, question, trim_sentences, short) if trim_sentences else list(sources)
    blocks, used = pack_passages(offered, budget, llm.count_tokens)
    whole = {s.n: s for s in sources}
    used = [whole[s.n] for s in used]
    if hinted is not None and any(s.n == hinted.source for s in used):
        question = f"{question}\n{hint_text}"
    user = prompts.qa.format(context="\n".join(blocks), question=question)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}], used
