"""The local model's KV cache kept for the fixed beginnings of prompts (system prompt, instructions) across
requests.

llama.cpp reuses what it evaluated last when the next prompt starts the same way, but the span check and the
answer take turns on one model, so each would read its fixed instructions again. A `PrefixCache` remembers the
last few prompts; a beginning that two of them share (at least `min_tokens` long) is saved once as the KV
cells of sequence 0 (about 23 KB a token for SmolLM2-135M, not llama-cpp-python's whole state with its logits
buffer) and loaded before a later prompt that starts with it.
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict, deque
from typing import Any, Sequence

logger = logging.getLogger(__name__)

MIN_PREFIX_TOKENS = 24  # a shorter shared beginning (the chat template's first tokens) is not worth a slot
CACHE_BYTES = 64 * 2**20  # all saved prefixes of one model together
# the prompt's last tokens are always evaluated together: llama.cpp computes a one-token batch by another
# kernel whose logits differ slightly (0.5 on SmolLM2), enough to flip a greedy answer from the uncached one
FRESH_TAIL = 2


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PrefixCache:
    """Saved KV states of prompt beginnings for one llama.cpp model; use it under the model's lock.

    Args:
        min_tokens: the shortest shared beginning worth saving.
        max_bytes: the most memory the saved states take together (least recently used dropped first).
        recent: how many past prompts are compared with a new one to find a shared beginning.
    """

    def __init__(self, min_tokens: int = MIN_PREFIX_TOKENS, max_bytes: int = CACHE_BYTES, recent: int = 8) -> None:
        self.min_tokens = min_tokens
        self.max_bytes = max_bytes
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()
        self._recent: deque[list[int]] = deque(maxlen=recent)
        self.hits = 0  # prompts that started from a saved state (for tests and logs)

    @property
    def size_bytes(self) -> int:
        return sum(len(state) for state in self._states.values())

    def prepare(self, llama: Any, tokens: Sequence[int]) -> int:
        """Put the longest known beginning of `tokens` in `llama`'s KV cache and return its length, which is
        then `llama.n_tokens`: the caller evaluates `tokens[returned:]` (at least `FRESH_TAIL` tokens, so the
        logits are those of an uncached run)."""
        tokens = list(tokens)
        limit = max(0, len(tokens) - FRESH_TAIL)
        held = min(common_prefix(llama.input_ids[: llama.n_tokens], tokens), limit)
        key = self._best(tokens, limit)
        if key is not None and len(key) > held:
            if self._restore(llama, key):
                held = len(key)
                self.hits += 1
            else:  # the model's cache was cleared
                held, key = 0, None
        shared = min(max((common_prefix(p, tokens) for p in self._recent), default=0), limit)
        if shared >= self.min_tokens and shared > (len(key) if key else 0):
            llama.n_tokens = min(held, shared)
            llama.eval(tokens[llama.n_tokens : shared])  # drops cells past n_tokens first
            self._save(llama, tokens[:shared])
            held = shared
        llama.n_tokens = held
        self._recent.append(tokens)
        return held

    def _best(self, tokens: list[int], limit: int) -> tuple[int, ...] | None:
        best = None
        for key in self._states:
            if len(key) <= limit and (best is None or len(key) > len(best)) and tuple(tokens[: len(key)]) == key:
                best = key
        if best is not None:
            self._states.move_to_end(best)
        return best

    def _save(self, llama: Any, prefix: list[int]) -> None:
        import llama_cpp

        size = llama_cpp.llama_state_seq_get_size(llama.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llama.ctx, buffer, size, 0)
        if not written or written > self.max_bytes:
            return
        self._states[tuple(prefix)] = bytes(buffer)[:written]
        while self.size_bytes > self.max_bytes:
            self._states.popitem(last=False)

    def _restore(self, llama: Any, key: tuple[int, ...]) -> bool:
        import llama_cpp

        state = self._states[key]
        llama._ctx.kv_cache_seq_rm(-1, 0, -1)
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama_cpp.llama_state_seq_set_data(llama.ctx, buffer, len(state), 0) != len(state):
            logger.warning("local model: a saved prompt prefix did not load; reading the prompt from the start")
            llama._ctx.kv_cache_seq_rm(-1, 0, -1)
            llama.n_tokens = 0
            del self._states[key]
            return False
        llama.input_ids[: len(key)] = key
        llama.n_tokens = len(key)
        return True
