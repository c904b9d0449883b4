"""Grounded answers: retrieve, read, prompt, generate, cite.

engine.py        `Engine`: condense the question, retrieve, read, prompt, generate, cite
chat.py          `ChatSession`: a conversation, each question condensed with the history
prompting.py     passages fitted to the context, condensed questions cleaned, refusals recognised
types.py         `Answer`, `Source`, `ShortAnswer`, `GenerationFailed`, and the streams of an answer
citations.py     [n] markers, the passage that supports a sentence, a short answer snapped to a span
presentation.py  answers that lead with the reader's span, or the passages' best sentences
span_check.py    the local LLM's check of the reader's best spans
"""

from .chat import ChatSession
from .citations import format_passage, snap_to_span
from .engine import Engine
from .types import Answer, AnswerStream, AsyncAnswerStream, GenerationFailed, ShortAnswer, Source

__all__ = [
    "Answer",
    "AnswerStream",
    "AsyncAnswerStream",
    "ChatSession",
    "Engine",
    "GenerationFailed",
    "ShortAnswer",
    "Source",
    "format_passage",
    "snap_to_span",
]
