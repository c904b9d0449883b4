"""Grounded answers: condense the question with the chat history, retrieve, prompt, generate, cite.

Each step is a span of the tracer (Langfuse when configured). Retrieved text goes into the prompt
delimited and labelled as untrusted, answers cite passages as [1], [2] ..., and when nothing
supports an answer the refusal prompt's text is returned instead of an invention.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any, Generator, Sequence

from prompts import PromptSet
from prompts.delimiters import before_delimiter
from rag.llm import LLM, Generation, Message
from retrievers.errors import RagError
from retrievers.filters import Filters
from retrievers.hybrid import HybridRetriever
from retrievers.passages import Passage
from retrievers.reader import rerank
from retrievers.reranking import RerankedRetriever
from retrievers.tracing import NULL_TRACER, Tracer

from . import presentation
from .citations import CITATION, cite, is_refusal, snap_to_span, strip_preamble
from .prompting import build_messages, clean_question
from .types import Answer, AnswerStream, AsyncAnswerStream, GenerationFailed, ShortAnswer, Source

logger = logging.getLogger(__name__)

_HISTORY_TURNS = 6


class Engine:
    """Question answering and chat over a retriever, with any LLM.

    Args:
        retriever: one of our retrievers (hybrid, dense or BM25).
        llm: the model to answer with.
        prompts: the prompt set (shipped defaults, or a user directory's).
        tracer: where spans go (Langfuse, or nothing).
        context_k: how many retrieved passages the model reads (fewer if the context is full).
        reader: an extractive reader (`retrievers.Reader`): its short answer, an exact span of one of the
            `reader_k` best passages, comes with every answer; its passage joins the LLM's if not there.
        reader_hint: also tell the LLM the reader's span (the `hint` prompt), so that a small model can
            copy an exact answer; off by default, since a wrong span can mislead it.
        span_checker: `checker(question, passage, spans)` -> a score per span (mean log-probability, as
            `rag.answer.span_check.SpanChecker` gives) or None; the reader's `check_k` best spans of its chosen
            passage are then reordered by both (`retrievers.reader.rerank`, the check weighted `check_weight`).
        lead: start the answer with what the passages say (`rag.answer.presentation`): the reader's span in its
            sentence, or for how/why questions the best supporting sentences, quoted and cited; the LLM's
            prose follows only when it agrees with that lead. Suits a small local model.
        trim_sentences: cut each passage in the prompt to its this many sentences sharing most words with the
            question, plus the one holding the reader's span (`rag.answer.trimming`); 0 = whole passages. The
            sources shown and cited stay whole.
        abstain_below: answer "the documents don't say" (listing the closest passages) when the best
            retrieved passage scores below this (on the retriever's scale), without reading or generating,
            instead of letting the models invent an answer; how/why questions are always answered.
        abstain_min_passages: no abstention under metadata filters that leave fewer passages than this.
        max_question_chars: a longer question or query is refused (`RagError`) before any work is done.
    """

    def __init__(
        self,
        retriever: Any,
        llm: LLM,
        prompts: PromptSet | None = None,
        *,
        tracer: Tracer = NULL_TRACER,
        context_k: int = 3,
        reader: Any = None,
        reader_k: int = 10,
        reader_hint: bool = False,
        span_checker: Any = None,
        check_k: int = 5,
        check_weight: float = 2.0,
        lead: bool = False,
        trim_sentences: int = 0,
        abstain_below: float | None = None,
        abstain_min_passages: int = 0,
        max_question_chars: int | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.prompts = prompts or PromptSet.load()
        self.tracer = tracer
        self.context_k = context_k
        self.reader = reader
        self.reader_k = reader_k
        self.reader_hint = reader_hint
        self.span_checker = span_checker
        self.check_k = check_k
        self.check_weight = check_weight
        self.lead = lead
        self.trim_sentences = trim_sentences
        self.abstain_below = abstain_below
        self.abstain_min_passages = abstain_min_passages
        self.max_question_chars = max_question_chars

    @property
    def refusal(self) -> str:
        return self.prompts.refusal.text

    def with_options(self, **generation: Any) -> "Engine":
        """This engine with other generation settings (`max_tokens`, `temperature`) for one request; the
        retriever, reader and loaded models are shared, so a request's options cost nothing to keep."""
        clone = copy.copy(self)
        clone.llm = self.llm.with_options(**generation)
        return clone

    def ask(self, question: str, history: Sequence[Message] = (), filters: Filters | None = None) -> Answer:
        return self.stream(question, history, filters).finish()

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[Passage, float]]:
        """The retriever's `k` best passages for `query` among those meeting `filters`, under the same length
        limit as questions."""
        self.check_question(query)
        return self.retriever.search(query, k, filters=filters or None)

    def check_question(self, text: str) -> None:
        """Refuse a question or query longer than the limit, in one line that names the setting."""
        if self.max_question_chars is not None and len(text) > self.max_question_chars:
            raise RagError(
                f"the question is {len(text)} characters long; the limit is {self.max_question_chars} "
                "(RAG_QUESTION_MAX_CHARS)"
            )

    def stream(self, question: str, history: Sequence[Message] = (), filters: Filters | None = None) -> AnswerStream:
        """The answer as it is generated; `filters` restrict the passages it may be grounded in."""
        return AnswerStream(self._run(question, list(history), filters))

    def astream(
        self, question: str, history: Sequence[Message] = (), filters: Filters | None = None
    ) -> AsyncAnswerStream:
        return AsyncAnswerStream(self.stream(question, history, filters))

    async def aask(self, question: str, history: Sequence[Message] = (), filters: Filters | None = None) -> Answer:
        stream = self.astream(question, history, filters)
        async for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    # -- the steps -----------------------------------------------------------------------------

    def _run(
        self, question: str, history: list[Message], filters: Filters | None = None
    ) -> Generator[str, None, Answer]:
        self.check_question(question or "")
        question = " ".join((question or "").split())
        if not question:
            raise RagError("the question is empty")
        start = time.perf_counter()
        timings: dict[str, float] = {}
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        with self.tracer.span(
            "rag.answer",
            input={"question": question, "history_turns": len(history)},
            metadata={"model": self.llm.model, "prompts": self.prompts.versions()},
        ) as root:
            standalone = self._condense(question, history, timings, usage)
            k = max(self.context_k, self.reader_k) if self.reader is not None else self.context_k
            sources = self._retrieve(standalone, timings, k, filters)
            abstains = self._abstains(standalone, sources, filters)
            short = self._read(standalone, sources, timings) if self.reader is not None and not abstains else None
            sources = self._shown(sources, short)
            grounded = None
            lead, lead_answer = "", None
            if abstains:
                text, refused = self._abstention(sources), True
                yield text
            elif not sources:
                text, refused = self.refusal, True
                yield text
            else:
                if self.lead:
                    lead, lead_answer = self._lead(standalone, sources, short)
                    if lead:
                        timings["lead_ms"] = round(1000 * (time.perf_counter() - start), 1)
                        yield lead
                shown = sources
                messages, sources = self._prompt(standalone, sources, short, hint=self.reader_hint)
                if lead:  # a passage the lead quotes stays listed even if the prompt had no room for it
                    sources = [s for s in shown if s in sources or f"[{s.n}]" in lead]
                generation = yield from self._generate(messages, lead, question, sources, short)
                if lead:
                    text, refused = self._after_lead(lead, lead_answer, generation.text, sources, standalone)
                    if text != lead:
                        yield text[len(lead) :]
                else:
                    text, refused, extra = cite(generation.text, sources, self.refusal)
                    if extra:
                        yield extra
                grounded = None if refused or lead else snap_to_span(text, [s for s in sources if s.cited])
                usage["prompt_tokens"] += generation.usage.prompt_tokens
                usage["completion_tokens"] += generation.usage.completion_tokens
                timings["generation_ms"] = round(1000 * generation.seconds, 1)
                if generation.first_token_s is not None:
                    timings["first_token_ms"] = round(1000 * generation.first_token_s, 1)
            timings["total_ms"] = round(1000 * (time.perf_counter() - start), 1)
            root.update(
                output={"answer": text, "cited": [s.passage.id for s in sources if s.cited], "refused": refused}
            )
        return Answer(
            question=question,
            standalone_question=standalone,
            answer=text,
            sources=sources,
            model=self.llm.model,
            refused=refused,
            timings=timings,
            usage=usage,
            short_answer=short,
            grounded=grounded,
        )

    def _generate(
        self, messages: list[Message], lead: str, question: str, sources: list[Source], short: ShortAnswer | None
    ) -> Generator[str, None, Generation]:
        """Stream the LLM's answer in a tracing span. After a lead the prose is held back (shown only if it agrees
        with the lead) and a failure leaves the lead standing; without one, a failure is `GenerationFailed`, which
        keeps the retrieved passages."""
        generation = Generation()
        parameters = {"max_tokens": self.llm.max_tokens, "temperature": self.llm.temperature}
        with self.tracer.span(
            "generation", as_type="generation", input=messages, model=self.llm.model, model_parameters=parameters
        ) as span:
            try:
                for piece in self.llm.stream(messages, generation):
                    if not lead:
                        yield piece
            except RagError as exc:
                span.update(level="ERROR", status_message=str(exc))
                if not lead:
                    raise GenerationFailed(str(exc), question, sources, short) from exc
                generation.text = ""
            usage = {"input": generation.usage.prompt_tokens, "output": generation.usage.completion_tokens}
            span.update(output=generation.text, usage_details=usage)
        return generation

    def _condense(self, question: str, history: list[Message], timings: dict, usage: dict) -> str:
        """A follow-up question rewritten to stand alone (no LLM call without history)."""
        turns = [m for m in history if m.get("role") in ("user", "assistant") and m.get("content")]
        if not turns:
            return question
        lines = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in turns[-_HISTORY_TURNS:])
        messages = [{"role": "user", "content": self.prompts.condense.format(history=lines, question=question)}]
        with self.tracer.span("condense", as_type="generation", input=messages, model=self.llm.model) as span:
            try:
                generation = self.llm.complete(messages)
            except RagError as exc:  # retrieve with the question as asked; the answer step reports the model
                span.update(level="ERROR", status_message=str(exc))
                return question
            condensed = clean_question(generation.text, question)
            span.update(
                output=condensed,
                usage_details={"input": generation.usage.prompt_tokens, "output": generation.usage.completion_tokens},
            )
        timings["condense_ms"] = round(1000 * generation.seconds, 1)
        usage["prompt_tokens"] += generation.usage.prompt_tokens
        usage["completion_tokens"] += generation.usage.completion_tokens
        return condensed

    def _retrieve(self, query: str, timings: dict, k: int, filters: Filters | None = None) -> list[Source]:
        start = time.perf_counter()
        filters = filters or None
        with self.tracer.span(
            "retrieval",
            as_type="retriever",
            input={"query": query, "k": k, "filters": filters.to_dict() if filters else None},
        ) as span:
            if isinstance(self.retriever, HybridRetriever | RerankedRetriever):
                hits = self.retriever.search(query, k, tracer=self.tracer, filters=filters)
            else:
                hits = self.retriever.search(query, k, filters=filters)
            span.update(output=[{"id": p.id, "title": p.title, "score": round(float(s), 6)} for p, s in hits])
        timings["retrieval_ms"] = round(1000 * (time.perf_counter() - start), 1)
        return [Source(n=i, passage=p, score=float(s)) for i, (p, s) in enumerate(hits, start=1)]

    def _read(self, question: str, sources: list[Source], timings: dict) -> ShortAnswer | None:
        """The reader's best span over the retrieved passages (one batch), checked by the span checker
        when there is one."""
        if not sources:
            return None
        start = time.perf_counter()
        contexts = [s.passage.indexed_text for s in sources[: self.reader_k]]  # in the retriever's order
        with self.tracer.span("reader", input={"question": question, "passages": len(contexts)}) as span:
            spans = self.reader.read(question, contexts, top_spans=self.check_k if self.span_checker is not None else 1)
            spans = [s for s in spans if s.passage == spans[0].passage]  # the check compares spans of one passage
            span.update(output=spans[0].to_dict() if spans else None)
        timings["reader_ms"] = round(1000 * (time.perf_counter() - start), 1)
        if not spans:
            return None
        if self.span_checker is not None and len(spans) > 1:
            spans = self._check(question, contexts[spans[0].passage], spans, timings)
        best = spans[0]
        source = sources[best.passage]
        return ShortAnswer(
            text=best.text,
            source=source.n,
            passage_id=source.passage.id,
            start=best.start,
            end=best.end,
            context=contexts[best.passage],
            score=best.score,
            check=best.check,
        )

    def _check(self, question: str, context: str, spans: list, timings: dict) -> list:
        """The reader's candidate spans reordered with the span checker's scores; as they came if it cannot run."""
        start = time.perf_counter()
        with self.tracer.span("span_check", input={"question": question, "spans": [s.text for s in spans]}) as span:
            try:
                checks = self.span_checker(question, context, [s.text for s in spans])
            except RagError as exc:  # e.g. the local model is missing: the reader's own order stands
                logger.warning("span check skipped: %s", exc)
                span.update(level="WARNING", status_message=str(exc))
                checks = None
            if checks is not None:
                spans = rerank(spans, checks, self.check_weight)
            span.update(output=[{"text": s.text, "check": s.check} for s in spans] if checks is not None else None)
        timings["span_check_ms"] = round(1000 * (time.perf_counter() - start), 1)
        return spans

    def _abstains(self, question: str, sources: list[Source], filters: Filters | None = None) -> bool:
        """With a threshold: the best passage retrieved for a short-answer question scores below it. Filters
        that leave fewer passages than the threshold was chosen over put scores on another scale: no abstention."""
        if self.abstain_below is None or not sources or presentation.explains(question):
            return False
        if filters and len(self.retriever.allowed_ids(filters)) < self.abstain_min_passages:
            return False
        return sources[0].score < self.abstain_below

    def _abstention(self, sources: list[Source]) -> str:
        closest = "; ".join(f"[{s.n}] {' '.join(s.passage.title.split()) or s.passage.source}" for s in sources[:3])
        return f"The retrieved documents don't say. The closest passages: {closest}."

    def _lead(self, question: str, sources: list[Source], short: ShortAnswer | None) -> tuple[str, str | None]:
        """The answer's opening (see `lead`) and the span it states (None for quoted sentences)."""
        if short is not None and not presentation.explains(question):
            return presentation.span_lead(
                short.text, short.source, presentation.quote_around(short.context, short.start, short.end)
            ), short.text
        chosen = presentation.best_sentences(question, [(s.n, s.passage.text) for s in sources])
        return presentation.sentences_lead(chosen), None

    def _after_lead(
        self, lead: str, lead_answer: str | None, prose: str, sources: list[Source], question: str
    ) -> tuple[str, bool]:
        """The lead, then the model's grounded prose when it agrees with it; the lead's citations mark the sources."""
        cited = {int(n) for n in CITATION.findall(lead)}
        text = lead
        prose = strip_preamble(before_delimiter(prose))  # a small model may go on to echo the passage markup
        prose = presentation.grounded_sentences(prose, [question, *(s.passage.indexed_text for s in sources)])
        if prose and not is_refusal(prose, self.refusal) and presentation.agrees(prose, lead_answer, lead):
            text = f"{lead}\n\n{prose}"
            cited |= {int(n) for n in CITATION.findall(prose)}
        for source in sources:
            source.cited = source.n in cited
        return text, False

    def _shown(self, sources: list[Source], short: ShortAnswer | None) -> list[Source]:
        """The passages the LLM reads: the first `context_k`, and the reader's passage if it is further down."""
        shown = sources[: self.context_k]
        if short is not None and short.source > self.context_k:
            extra = sources[short.source - 1]
            extra.n = short.source = len(shown) + 1
            shown.append(extra)
        return shown

    def _prompt(
        self, question: str, sources: list[Source], short: ShortAnswer | None = None, hint: bool = False
    ) -> tuple[list[Message], list[Source]]:
        """The messages and the passages they hold (`rag.answer.prompting.build_messages`), in a tracing span."""
        with self.tracer.span("prompt", input={"question": question, "passages": len(sources)}) as span:
            messages, used = build_messages(
                self.prompts, self.llm, question, sources, short=short, hint=hint, trim_sentences=self.trim_sentences
            )
            span.update(output=messages, metadata={"prompts": self.prompts.versions(), "passages_used": len(used)})
        return messages, used

    def as_query_engine(self) -> Any:
        """This engine as a LlamaIndex query engine (`.query(str)` returns a `Response` with sources)."""
        from .llamaindex import EngineQueryEngine

        return EngineQueryEngine(engine=self)

    def as_chat_engine(self) -> Any:
        """A LlamaIndex chat engine over a new `ChatSession` (chat, stream_chat, achat, ...)."""
        from .chat import ChatSession
        from .llamaindex import EngineChatEngine

        return EngineChatEngine(ChatSession(self))
