"""The embedded LLM as a check on the reader's candidate spans.

A 135M-parameter model answers badly when it writes an answer, but judging given answers is easier:
for each of the reader's best spans, the mean token log-probability the local model gives to
replying with exactly that span (the `check` prompt: the passage, delimited as in answers, and the
question, then the span as its whole reply). `retrievers.reader.rerank` combines this with the reader's
own scores. It needs the model's token probabilities, so it runs on a local GGUF model (llama.cpp)
whatever LLM writes the answer.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from prompts.delimiters import passage_block
from prompts.templates import Prompt
from rag.llm import DEFAULT_LLM, LOCAL_MODELS, LOCAL_PROVIDER, LOCAL_TIMEOUT_S, run_at_low_priority
from retrievers.errors import RagError

_MARGIN = 8  # tokens kept free after the prompt and the longest candidate


class SpanChecker:
    """`checker(question, context, answers)` -> each answer's mean token log-probability as the local model's
    reply, or None when the prompt does not fit the model's context.

    `model` is a local model name (`smollm2`, or the path of a GGUF file), loaded once per process and
    shared with answering (one user of it at a time).
    """

    def __init__(self, prompt: Prompt, model: str = DEFAULT_LLM.split("/", 1)[1]) -> None:
        self.prompt = prompt
        self.model = model
        self._chat: Any = None  # user turn -> prompt in the model's chat template, built on first use

    @classmethod
    def for_llm(cls, prompt: Prompt, llm_model: str | None) -> "SpanChecker":
        """The checker for an answering model: itself when it is local, else the embedded default."""
        local = llm_model or DEFAULT_LLM
        name = local.split("/", 1)[1] if local.startswith(f"{LOCAL_PROVIDER}/") else DEFAULT_LLM.split("/", 1)[1]
        return cls(prompt, name)

    def user_prompt(self, question: str, context: str) -> str:
        """The `check` prompt for a question and its passage, delimited and defused as in answers."""
        return self.prompt.format(context=passage_block(context), question=question)

    def __call__(self, question: str, context: str, answers: Sequence[str]) -> list[float] | None:
        if not answers:
            return None
        llama, lock = LOCAL_MODELS.get(self.model)
        if self._chat is None:
            formatter = LOCAL_MODELS.formatter(llama)
            self._chat = lambda turn: formatter([{"role": "user", "content": turn}]).prompt
        user = self.user_prompt(question, context)
        if not lock.acquire(timeout=LOCAL_TIMEOUT_S):
            raise RagError(f"the local model stayed busy for {LOCAL_TIMEOUT_S:g} s: the span check was skipped")
        try:
            head = llama.tokenize(self._chat(user).encode("utf-8"), add_bos=True, special=True)
            tails = [llama.tokenize(a.encode("utf-8"), add_bos=False) + [llama.token_eos()] for a in answers]
            if len(head) + max(len(t) for t in tails) + _MARGIN > llama.n_ctx():
                return None

            def score() -> list[float]:
                held = LOCAL_MODELS.prefixes(llama).prepare(llama, head)  # the fixed instructions, kept
                llama.eval(head[held:])
                first = _log_softmax(_last_logits(llama))
                return [_mean_logprob(llama, len(head), first, tail) for tail in tails]

            return run_at_low_priority(score)
        finally:
            lock.release()


def _last_logits(llama: Any) -> np.ndarray:
    import llama_cpp

    return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llama.ctx, -1), shape=(llama.n_vocab(),)).copy()


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max()
    return z - np.log(np.exp(z).sum())


def _mean_logprob(llama: Any, n_head: int, first: np.ndarray, tail: list[int]) -> float:
    """Mean log-probability of `tail` after the evaluated prompt of `n_head` tokens (its cache is kept:
    only the tail's tokens are evaluated, one at a time)."""
    llama.n_tokens = n_head
    total = float(first[tail[0]])
    for token, following in zip(tail, tail[1:]):
        llama.eval([token])
        total += float(_log_softmax(_last_logits(llama))[following])
    return total / len(tail)
