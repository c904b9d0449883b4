"""The reranker the settings name (`RAG_RERANKER`, `--rerank`), and the LLM reranker (any litellm model).

`none` (the default: no reranker has been measured to beat the first stage, docs/experiments/rerank), `reader`
(the configured reader's passage-selection head), `llm` or `llm:MODEL` (listwise, with the `rerank` prompt),
or the directory of a sentence-transformers CrossEncoder.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Sequence

from prompts import Prompt, load_prompt
from prompts.delimiters import passage_block
from rag.config import Settings
from rag.llm import LLM
from rag.reader import load_reader
from retrievers.errors import RagError
from retrievers.passages import Passage
from retrievers.reranking import CrossEncoderReranker, ReaderReranker, Reranker

logger = logging.getLogger(__name__)

_NUMBER = re.compile(r"\d{1,3}")
MAX_LLM_PASSAGES = 20  # an LLM ranks at most this many (the rest keep the first stage's order, after them)
_PASSAGE_CHARS = 1200


class LLMReranker:
    """An LLM orders the numbered passages (listwise, as RankGPT): the passages it names come first in its
    order, the ones it leaves out after them in the first stage's order. Suits capable models; a reply that
    names no passage leaves the order as it was, with a warning."""

    def __init__(self, llm: LLM, prompt: Prompt | None = None) -> None:
        self.llm = llm
        self.prompt = prompt or load_prompt("rerank")
        self.name = f"llm:{llm.model}"

    def scores(self, query: str, passages: Sequence[Passage]) -> list[float]:
        shown = passages[:MAX_LLM_PASSAGES]
        context = "\n\n".join(
            passage_block(p.text[:_PASSAGE_CHARS], n=i, title=p.title) for i, p in enumerate(shown, start=1)
        )
        reply = self.llm.complete(
            [{"role": "user", "content": self.prompt.format(context=context, question=query)}]
        ).text
        order: list[int] = []
        for token in _NUMBER.findall(reply):
            n = int(token)
            if 1 <= n <= len(shown) and n - 1 not in order:
                order.append(n - 1)
        if not order:
            logger.warning("LLM reranker %s named no passage (%r): first-stage order kept", self.name, reply[:80])
        rank = {index: position for position, index in enumerate(order)}
        total = len(passages)
        # named passages score above every unnamed one; unnamed ones keep their first-stage order
        return [float(2 * total - rank[i]) if i in rank else float(total - i) for i in range(total)]


def build_reranker(settings: Settings) -> Reranker | None:
    """The reranker `settings.reranker` names, or None; a name that is neither a known kind nor a CrossEncoder
    directory is one clear error."""
    spec = (settings.reranker or "none").strip()
    if spec.lower() in ("", "none", "off"):
        return None
    if spec == "reader":
        if not settings.reader:
            raise RagError("--rerank reader uses the reader's passage selection: it needs a reader (RAG_READER)")
        return ReaderReranker(load_reader(settings.reader))
    if spec == "llm" or spec.startswith("llm:"):
        model = spec[4:] or settings.model
        return LLMReranker(
            LLM(model, max_tokens=64, temperature=0.0, api_base=settings.api_base),
            load_prompt("rerank", directory=settings.prompts_dir),
        )
    return _cross_encoder(spec)


@lru_cache(maxsize=2)
def _cross_encoder(path: str) -> CrossEncoderReranker:
    """A CrossEncoder directory, loaded once per process."""
    return CrossEncoderReranker(path)
