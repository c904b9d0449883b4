"""A local model's chat template, applied as llama-cpp-python's own chat handler applies it, so that callers
get the prompt's tokens (to score them, or to keep their beginning in the KV cache) before generating."""

from __future__ import annotations

from typing import Any, Callable, Sequence

Message = dict[str, str]


def chat_formatter(llama: Any) -> Callable[[Sequence[Message]], Any]:
    """messages -> llama-cpp-python's `ChatFormatterResponse` (`prompt`, `stop`, `added_special`) for the GGUF
    file's own template, as `Llama` builds its default handler from it; a plain `User:/Answer:` layout for
    a model without one."""
    from llama_cpp.llama_chat_format import ChatFormatterResponse, Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return lambda messages: ChatFormatterResponse(
            prompt="\n".join(m.get("content") or "" for m in messages) + "\nAnswer: ", stop=None, added_special=False
        )
    eos = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "ignore")
    bos = (
        llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "ignore") if llama.token_bos() >= 0 else ""
    )
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)  # compiles the template once
    return lambda messages: formatter(messages=list(messages))


def chat_tokens(llama: Any, formatter: Callable[[Sequence[Message]], Any], messages: Sequence[Message]) -> tuple:
    """The prompt's tokens, ready for the assistant's reply, and its stop strings (a list, maybe empty)."""
    result = formatter(messages)
    tokens = llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    stop = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
    return tokens, stop
