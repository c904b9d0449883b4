"""How an answer leads: the reader's span inside its sentence, or the passages' best sentences, quoted and cited.

A small local model often writes fluent prose that is wrong, while the reader's span is an exact
piece of a retrieved passage. So the answer starts with what the passages say, and the model's prose
follows only when it agrees with that lead (`agrees`).
"""

from __future__ import annotations

import re
from typing import Sequence

from retrievers.answer_text import normalize

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_WORD = re.compile(r"[a-z0-9]+")
_NOT_PROSE = re.compile(r"```|(?m:^[ \t]*\|.*\|[ \t]*$)|(?:\|[^|\n]*){3,}\|")  # a code fence, table rows
_BREAK = re.compile(r"\n[ \t]*\n\s*|(?m:^[ \t]*#{1,6}[ \t][^\n]*(?:\n|$))")  # a paragraph break, a heading line
# Questions whose answer is an explanation, not a short span ("how many" and "how long" are spans).
_EXPLAIN = re.compile(
    r"^\s*(why|explain|describe|summari[sz]e|compare|how (?!many|much|long|old|far|tall|big|high|large|often|deep)"
    r"|what (does|do|did|is the (purpose|role|point|difference)|are the (advantages|differences|steps))"
    r"|in what way)\b",
    re.IGNORECASE,
)
_STOP = frozenset(
    """a an the of in on at to for from by with and or but is are was were be been being do does did
what which who whom whose when where why how that this these those it its as into than then there their they
he she his her you your we our i me my not no yes can could would should will shall may might must has have had
about over under after before between during also only just so such very more most much many any some each
one two""".split()
)
QUOTE_CHARS = 240
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_\[\]<>!#|])")
_LIVE_ANGLE = re.compile(r"(?<!\\)((?:\\\\)*)<")  # after an even number of backslashes
_BARE_LINK = re.compile(r"(?i)(?:https?|ftp)(?=:)|www(?=\.)")  # what GitHub-style Markdown links by itself


def explains(question: str) -> bool:
    """Whether a question asks for an explanation (how, why, what does X do) rather than a short answer."""
    return bool(_EXPLAIN.match(question))


def sentences(text: str) -> list[tuple[int, int]]:
    """The character spans of the sentences of `text` (a light split: end punctuation, then a capital).

    A paragraph break ends a sentence too, and Markdown heading lines are not sentences: a heading would
    otherwise run into the first sentence under it."""
    spans = []
    for block_start, block_end in _blocks(text):
        start = block_start
        for match in _SENTENCE_END.finditer(text, block_start, block_end):
            spans.append((start, match.start()))
            start = match.end()
        spans.append((start, block_end))
    trimmed = []
    for a, b in spans:  # without the whitespace around each sentence
        piece = text[a:b]
        a, b = a + len(piece) - len(piece.lstrip()), b - len(piece) + len(piece.rstrip())
        if a < b:
            trimmed.append((a, b))
    return trimmed


def _blocks(text: str) -> list[tuple[int, int]]:
    """The stretches of `text` between paragraph breaks and heading lines."""
    cuts = [(m.start(), m.end()) for m in _BREAK.finditer(text)]
    blocks, start = [], 0
    for a, b in cuts:
        blocks.append((start, a))
        start = b
    blocks.append((start, len(text)))
    return [(a, b) for a, b in blocks if a < b]


def quote_around(context: str, start: int, end: int, limit: int = QUOTE_CHARS) -> str:
    """The sentence of `context` that holds `[start, end)`, cut to about `limit` characters around it.

    A sentence that is the span alone (a passage's title line, "Jackie Robinson.") would show nothing of
    what the passage says about it, so the next sentence comes with it."""
    spans = sentences(context)
    i = next((i for i, (a, b) in enumerate(spans) if a <= start < b), None)
    a, b = spans[i] if i is not None else (start, end)
    if i is not None and i + 1 < len(spans) and normalize(context[a:b]) == normalize(context[start:end]):
        b = spans[i + 1][1]
    b = max(b, end)
    if b - a > limit:
        room = max(0, limit - (end - start)) // 2
        a2, b2 = max(a, start - room), min(b, end + room)
        text = context[a2:b2].strip()
        return f"{'…' if a2 > a else ''}{text}{'…' if b2 < b else ''}"
    return context[a:b].strip()


def span_lead(span: str, source: int, quote: str) -> str:
    """`**span** [n] — “…quote…”`: the answer first, then where the passage says it."""
    return f"**{escape_markdown(span)}** [{source}] — “{escape_markdown(quote)}”"


def content_terms(text: str) -> set[str]:
    """The words of `text` that say what it is about: lower-cased, without stop words and single letters."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def best_sentences(question: str, passages: Sequence[tuple[int, str]], k: int = 2) -> list[tuple[int, str]]:
    """The `k` sentences of `passages` (numbered as cited) sharing most content words with the question,
    in passage order; none when no sentence shares a word. Code blocks and table rows are not quoted."""
    wanted = content_terms(question)
    scored = []
    for rank, (n, text) in enumerate(passages):
        for i, (a, b) in enumerate(sentences(text)):
            sentence = text[a:b].strip()
            if _NOT_PROSE.search(sentence):  # a code block or table rows read badly as a quote
                continue
            overlap = len(wanted & content_terms(sentence))
            if overlap:
                scored.append((-overlap, rank, i, n, sentence))
    top = sorted(scored)[:k]
    return [(n, _cut(sentence)) for _, _, _, n, sentence in sorted(top, key=lambda t: (t[1], t[2]))]


def sentences_lead(chosen: Sequence[tuple[int, str]]) -> str:
    """`“sentence” [n] “sentence” [m]`: what the passages say, each quote cited."""
    return " ".join(f"“{escape_markdown(sentence)}” [{n}]" for n, sentence in chosen)


GROUNDED_SHARE = 0.6  # of a prose sentence's content words that the passages (or the question) must hold


def grounded_sentences(prose: str, texts: Sequence[str]) -> str:
    """The sentences of `prose` whose content words are mostly (`GROUNDED_SHARE`) in `texts` (the passages the
    model read and the question), in order: a small model's talk about "the passage" and "the original text",
    and the names, numbers and links it makes up, go; what it restates from the passages stays."""
    known = set().union(*(content_terms(t) for t in texts))
    kept = []
    for a, b in sentences(prose):
        words = content_terms(prose[a:b])
        if words and len(words & known) >= GROUNDED_SHARE * len(words):
            kept.append(prose[a:b].strip())
    return " ".join(kept)


def agrees(prose: str, lead_answer: str | None, lead_text: str) -> bool:
    """Whether the model's prose supports the lead: it contains the span, or (for quoted sentences) most
    of its content words are in them."""
    if lead_answer is not None:
        answer = normalize(lead_answer)
        return answer.strip() != "" and answer in normalize(prose)
    words = content_terms(prose)
    return bool(words) and len(words & content_terms(lead_text)) >= 0.5 * len(words)


def _cut(sentence: str, limit: int = QUOTE_CHARS) -> str:
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + "…"


def escape_markdown(text: str) -> str:
    """Untrusted text (a title, a source, a passage) made inert for Markdown: one line, with no emphasis,
    code, link, image or HTML of its own."""
    return _unlinked(_MARKDOWN_SYNTAX.sub(r"\\\1", " ".join(text.split())))


def inert_markdown(text: str) -> str:
    """Markdown from a writer that may echo documents (the model's answer) with its lines, emphasis and
    `[n]` citations kept, but no image, link, link definition or raw HTML that could fetch or send anything."""
    text = _LIVE_ANGLE.sub(r"\1\\<", text)  # a `<` not already escaped starts no HTML or autolink
    return _unlinked(text.replace("![", "!\\[").replace("](", "]\\(").replace("]:", "]\\:"))


def _unlinked(text: str) -> str:
    """`https\\://…` and `www\\.…`: bare addresses shown as text, not made into links."""
    return _BARE_LINK.sub(lambda m: m.group() + "\\", text)
