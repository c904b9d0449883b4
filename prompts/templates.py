"""Loading prompt templates by name and version, with user overrides."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).with_name("files")
ANSWER_PROMPTS = ("system", "qa", "condense", "refusal", "hint", "check")
PROMPT_NAMES = (*ANSWER_PROMPTS, "questions", "judge", "rerank")
_FILE = re.compile(r"^(?P<name>[a-z_]+)(?:\.v(?P<version>\d+))?\.txt$")
_FIELDS = {
    "system": {"refusal"},
    "qa": {"context", "question"},
    "condense": {"history", "question"},
    "refusal": set(),
    # the reader's span, added after the question when reader_hint is on; a <passage> block, as `check`'s context
    "hint": {"answer", "source"},
    "check": {"context", "question"},  # the local LLM scores the reader's spans as replies to this
    # LlamaIndex's question-generation placeholders, so its templates work here and ours there
    "questions": {"context_str", "num_questions_per_chunk"},
    "judge": {"context", "question", "answer"},
    "rerank": {"context", "question"},
}  # an LLM orders numbered passages (rag.reranking.LLMReranker)


class PromptError(ValueError):
    """A missing or malformed template; the message names the file."""


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str  # "v1", or "user" for an unversioned override
    text: str
    path: Path

    def format(self, **values: Any) -> str:
        return self.text.format(**values)

    def as_llama_index(self) -> Any:
        """The same template as a LlamaIndex `PromptTemplate`."""
        from llama_index.core import PromptTemplate

        return PromptTemplate(self.text)


def _candidates(directory: Path, name: str) -> list[tuple[int, Path]]:
    found = []
    if directory.is_dir():
        for path in directory.iterdir():
            match = _FILE.match(path.name)
            if match and match["name"] == name:
                found.append((int(match["version"] or 10**9), path))  # an unversioned override wins
    return sorted(found)


def load_prompt(name: str, *, version: int | None = None, directory: str | Path | None = None) -> Prompt:
    """The template `name`: from `directory` when it has one, else the shipped one."""
    if name not in PROMPT_NAMES:
        raise PromptError(f"unknown prompt {name!r}: one of {', '.join(PROMPT_NAMES)}")
    for root in ([Path(directory).expanduser()] if directory else []) + [SHIPPED]:
        options = _candidates(root, name)
        if version is not None:
            options = [(v, p) for v, p in options if v == version]
        if options:
            number, path = options[-1]
            text = path.read_text(encoding="utf-8").strip()
            _check(name, text, path)
            return Prompt(name, "user" if number == 10**9 else f"v{number}", text, path)
    raise PromptError(
        f"no prompt {name!r}"
        + (f" version {version}" if version else "")
        + (f" in {directory} or" if directory else " in")
        + f" {SHIPPED}"
    )


def _check(name: str, text: str, path: Path) -> None:
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    except ValueError as exc:
        raise PromptError(f"{path}: bad template ({exc}); write literal braces as {{{{ }}}}") from None
    if fields != _FIELDS[name]:
        want = ", ".join("{%s}" % f for f in sorted(_FIELDS[name])) or "no placeholders"
        raise PromptError(f"{path}: the {name} prompt takes {want}, found {sorted(fields)}")


@dataclass(frozen=True)
class PromptSet:
    """The prompts an answer needs (`questions` and `judge`, for training data and evaluation, load on their own)."""

    system: Prompt
    qa: Prompt
    condense: Prompt
    refusal: Prompt
    hint: Prompt
    check: Prompt

    @classmethod
    def load(cls, directory: str | Path | None = None) -> "PromptSet":
        return cls(**{name: load_prompt(name, directory=directory) for name in ANSWER_PROMPTS})

    def versions(self) -> dict[str, str]:
        return {name: getattr(self, name).version for name in ANSWER_PROMPTS}
