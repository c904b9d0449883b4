"""Grounded answers: retrieve, read, prompt, generate, cite.

    engine.py        `Engine` and `ChatSession`: condense the question, retrieve, prompt, generate, cite
    types.py         `Answer`, `Source`, `ShortAnswer`, `GenerationFailed`, and the streams of an answer
    citations.py     [n] markers, the passage that supports a sentence, a short answer snapped to a span
    presentation.py  answers that lead with the reader's span, or the passages' best sentences
    span_check.py    the local LLM's check of the reader's best spans
"""

from .citations import format_passage, snap_to_span
from .engine import ChatSession, Engine
from .types import Answer, AnswerStream, AsyncAnswerStream, GenerationFailed, ShortAnswer, Source

__all__ = [
    "Answer", "AnswerStream", "AsyncAnswerStream", "ChatSession", "Engine", "GenerationFailed", "ShortAnswer",
    "Source", "format_passage", "snap_to_span",
]
