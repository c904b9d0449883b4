"""The embedded model's loop detector: tiny models repeat themselves, and a repeat penalty that sees only the
last 64 tokens does not stop a loop of sentences."""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

REPEAT_NGRAM_WORDS = 8  # a run of this many words said twice is a loop
REPEAT_SENTENCE_WORDS = 4  # a sentence or line of at least this many words said twice is a loop

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
        return self._text[: self._cut] if self._cut is not None else self._text

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
        out, self._emitted = self._text[self._emitted : safe], max(self._emitted, safe)
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
        words = tuple(_DIGITS.sub("0", w) for _, w in self._words[self._sentence :])  # "[1]" is like "[2]"
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
        logger.debug(
            "local model output repeats itself: stopped after %d characters, kept %d", len(self._text), self._cut
        )
