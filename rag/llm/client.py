"""`LLM`: one configured model through litellm, any provider's model string or the embedded one (provider
`local`, `rag.llm.local`), with retries, clear errors and a context budget. litellm is imported on first
use (it takes seconds) with its offline switches set, so nothing reaches the network unless a remote model
is asked for.
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from retrievers.environment import quiet_offline
from retrievers.errors import RagError

from .local import (
    LOCAL_MAX_TOKENS,
    LOCAL_MODELS,
    LOCAL_PROVIDER,
    Message,
    build_local_handler,
    flatten_messages,
    resolve_gguf,
)

logger = logging.getLogger(__name__)

DEFAULT_LLM = "local/smollm2"
_FALLBACK_CONTEXT = 8192


_litellm: Any = None
_litellm_lock = threading.Lock()


def litellm_module() -> Any:
    """litellm, imported once with its offline switches and the local provider registered."""
    global _litellm
    with _litellm_lock:
        if _litellm is None:
            quiet_offline()
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            providers = [p for p in (litellm.custom_provider_map or []) if p.get("provider") != LOCAL_PROVIDER]
            litellm.custom_provider_map = providers + [
                {"provider": LOCAL_PROVIDER, "custom_handler": build_local_handler()}
            ]
            _litellm = litellm
        return _litellm


def register_local_provider() -> None:
    """Make `local/smollm2` (and `local/PATH.gguf`) answer `litellm.completion` and LlamaIndex's `LiteLLM`."""
    litellm_module()


_SECRET = re.compile(r"\b(?:sk|pk|rk|key|token|secret)[-_][A-Za-z0-9_\-]{8,}|\bBearer\s+\S+", re.IGNORECASE)


def redact(text: str) -> str:
    """Key-like strings (`sk-...`, `Bearer ...`) replaced, so provider errors never put a secret in a log."""
    return _SECRET.sub("[redacted]", text)


_TRANSIENT = {
    "Timeout",
    "APITimeoutError",
    "APIConnectionError",
    "RateLimitError",
    "ServiceUnavailableError",
    "BadGatewayError",
    "InternalServerError",
}


def _transient(exc: BaseException) -> bool:
    """Whether trying again may help: timeouts, lost connections, rate limits and server-side errors."""
    if isinstance(exc, RagError):
        return False
    status = getattr(exc, "status_code", None)
    return type(exc).__name__ in _TRANSIENT or (isinstance(status, int) and (status == 429 or status >= 500))


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Generation:
    """What one call produced; filled as a stream is consumed."""

    text: str = ""
    usage: Usage = field(default_factory=Usage)
    first_token_s: float | None = None
    seconds: float = 0.0


class LLM:
    """One configured model: completion and streaming with clear errors, and a context budget.

    Args:
        model: a litellm model string (`openai/gpt-4o-mini`, `ollama/llama3.1`, ...) or `local/NAME`.
        max_tokens: the longest answer (for the embedded local model, at most `LOCAL_MAX_TOKENS`).
        temperature: 0 keeps answers extractive and repeatable.
        timeout: seconds before a remote call is abandoned.
        retries: further attempts after a transient failure (timeout, connection, rate limit, 5xx),
            waiting `backoff`, then twice that, and so on; other errors fail at once. A stream is
            retried only before its first token: after that, a retry would repeat shown text.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        timeout: float = 60.0,
        api_base: str | None = None,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.model = model or DEFAULT_LLM
        self.is_local = self.model.startswith(f"{LOCAL_PROVIDER}/")
        self.max_tokens = min(max_tokens, LOCAL_MAX_TOKENS) if self.is_local else max_tokens
        self.temperature = temperature
        self.timeout = timeout
        self.api_base = api_base
        self.retries = retries
        self.backoff = backoff
        self._sleep = time.sleep
        if self.is_local:
            resolve_gguf(self.model.split("/", 1)[1])  # fail now, with the fix, not mid-answer

    def with_options(self, *, max_tokens: int | None = None, temperature: float | None = None) -> "LLM":
        """The same model with other generation settings for one request (the loaded weights are shared)."""
        clone = copy.copy(self)
        if max_tokens is not None:
            clone.max_tokens = min(max_tokens, LOCAL_MAX_TOKENS) if self.is_local else max_tokens
        if temperature is not None:
            clone.temperature = temperature
        return clone

    @property
    def context_window(self) -> int:
        """Tokens the model reads at most (prompt and answer together)."""
        if self.is_local:
            return LOCAL_MODELS.n_ctx
        try:
            info = litellm_module().get_model_info(self.model)
            return int(info.get("max_input_tokens") or info.get("max_tokens") or _FALLBACK_CONTEXT)
        except Exception as exc:  # litellm raises a bare Exception for a model it has no record of
            logger.info("no context size known for %s (%s): assuming %d tokens", self.model, exc, _FALLBACK_CONTEXT)
            return _FALLBACK_CONTEXT

    def count_tokens(self, text: str) -> int:
        """Exact for the local model; a conservative estimate (3 characters a token) otherwise."""
        if self.is_local:
            llama, _ = LOCAL_MODELS.get(self.model.split("/", 1)[1])
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False))
        return len(text) // 3 + 1

    def _check_keys(self, litellm: Any) -> None:
        if self.is_local or self.api_base:
            return
        try:
            env = litellm.validate_environment(model=self.model)
        except Exception as exc:  # a provider litellm cannot check: the call itself will say what is missing
            logger.debug("cannot check the keys of %s: %s", self.model, exc)
            return
        if env.get("missing_keys"):
            raise RagError(
                f"model {self.model!r} needs {', '.join(env['missing_keys'])} in the environment; "
                "set it, or unset RAG_MODEL to use the embedded local model"
            )

    def _call(self, messages: Sequence[Message], stream: bool) -> Any:
        """One completion, retried on transient failures; a stream comes back with its first chunk read."""
        litellm = litellm_module()
        self._check_keys(litellm)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = litellm.completion(
                    model=self.model,
                    messages=list(messages),
                    stream=stream,
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    timeout=self.timeout,
                    api_base=self.api_base,
                    num_retries=0,
                    max_retries=0,
                )
                if stream:  # a refused or dropped connection often shows only when the first chunk is read
                    chunks = iter(response)
                    first = next(chunks, None)
                    return chunks if first is None else itertools.chain([first], chunks)
                return response
            except Exception as exc:
                if attempt > self.retries or not _transient(exc):
                    raise self._error(exc, attempt) from exc
                self._sleep(self.backoff * 2 ** (attempt - 1))

    def _error(self, exc: Exception, attempts: int = 1) -> Exception:
        if isinstance(exc, RagError):
            return exc
        name = type(exc).__name__
        text = redact(" ".join(str(exc).split()))
        tried = f", {attempts} attempts" if attempts > 1 else ""
        if "LLM Provider NOT provided" in text or name == "NotFoundError":
            return RagError(
                f"unknown model {self.model!r}: use a litellm model string such as openai/gpt-4o-mini, "
                "ollama/llama3.1 or local/smollm2 (flag --model, env RAG_MODEL)"
            )
        if name == "AuthenticationError" or "credentials" in text.lower() or "api key" in text.lower():
            return RagError(
                f"model {self.model!r} was refused for lack of a valid API key: set the provider's key "
                "(e.g. OPENAI_API_KEY), or unset RAG_MODEL for the local model"
            )
        if name in ("APIConnectionError", "Timeout", "APITimeoutError") or "connect" in text.lower():
            return RagError(
                f"cannot reach model {self.model!r} ({name}{tried}): check the network or api_base, "
                "or unset RAG_MODEL for the local model"
            )
        if _transient(exc):
            return RagError(f"model {self.model!r} is not answering ({name}{tried}): {text[:160]}")
        return RagError(f"model {self.model!r} failed: {name}{tried}: {text[:200]}")

    def complete(self, messages: Sequence[Message]) -> Generation:
        start = time.perf_counter()
        response = self._call(messages, stream=False)
        usage = getattr(response, "usage", None)
        return Generation(
            text=(response.choices[0].message.content or "").strip(),
            usage=Usage(getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0),
            seconds=time.perf_counter() - start,
        )

    def stream(self, messages: Sequence[Message], generation: Generation) -> Iterator[str]:
        """Yield text pieces as they arrive, filling `generation` (text, usage, timings) on the way."""
        start = time.perf_counter()
        chunks = self._call(messages, stream=True)
        try:
            for chunk in chunks:
                usage = getattr(chunk, "usage", None)
                if usage:
                    generation.usage = Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0)
                if not chunk.choices:
                    continue
                piece = chunk.choices[0].delta.content or ""
                if piece:
                    if generation.first_token_s is None:
                        generation.first_token_s = time.perf_counter() - start
                    generation.text += piece
                    yield piece
        except RagError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc
        finally:
            generation.seconds = time.perf_counter() - start
        if not generation.usage.completion_tokens:  # some providers report no usage when streaming
            generation.usage = Usage(self.count_tokens(flatten_messages(messages)), self.count_tokens(generation.text))
