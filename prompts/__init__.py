"""Prompt templates: system, question answering, condense and refusal, versioned and overridable.

Templates are text files `NAME.vN.txt` with `{placeholders}`. `load_prompt(name)` takes the highest
version shipped here, or one pinned with `version=`; a user directory of `NAME.txt` or `NAME.vN.txt`
files overrides the shipped ones.
"""

from .templates import PROMPT_NAMES, Prompt, PromptSet, load_prompt

__all__ = ["PROMPT_NAMES", "Prompt", "PromptSet", "load_prompt"]
