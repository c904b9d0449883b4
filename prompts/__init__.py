"""Prompt templates, versioned and overridable: system, question answering, condense and refusal for
answers; questions, for generating training questions from passages.

Templates are text files `NAME.vN.txt` with `{placeholders}`. `load_prompt(name)` takes the highest
version shipped here, or one pinned with `version=`; a user directory of `NAME.txt` or `NAME.vN.txt`
files overrides the shipped ones.
"""

from .templates import ANSWER_PROMPTS, PROMPT_NAMES, Prompt, PromptSet, load_prompt

__all__ = ["ANSWER_PROMPTS", "PROMPT_NAMES", "Prompt", "PromptSet", "load_prompt"]
