"""Wiring from settings: the collection's retriever, the LLM, the prompts and the tracer, as one Engine."""

from __future__ import annotations

from prompts import PromptSet
from prompts.templates import PromptError
from rag.answer import Engine
from rag.answer.span_check import SpanChecker
from rag.config import Settings
from rag.llm import LLM
from rag.reader import load_reader
from rag.retrieval import open_collection, open_retriever, tuned_settings
from rag.tracing import make_tracer
from retrievers.errors import RagError


def build_llm(settings: Settings) -> LLM:
    return LLM(
        settings.model,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        timeout=settings.llm_timeout,
        api_base=settings.api_base,
        retries=settings.llm_retries,
    )


def build_engine(settings: Settings, collection: str | None = None) -> Engine:
    """An answer engine over a collection, as the settings describe it."""
    if settings.reader_hint and not settings.reader:
        raise RagError(
            "--reader-hint (RAG_READER_HINT) gives the LLM the reader's span: it needs a reader, "
            "--reader DIR (RAG_READER)"
        )
    llm = build_llm(settings)  # a bad model string fails before anything is loaded
    try:
        prompts = PromptSet.load(settings.prompts_dir)
    except PromptError as exc:
        raise RagError(str(exc)) from None
    coll = open_collection(settings, collection)
    settings = tuned_settings(settings, coll)  # the collection's tuned fusion, unless one is set
    retriever = open_retriever(settings, coll)
    abstain_below = settings.abstention_threshold()
    chosen = "abstain_score" in settings.model_fields_set
    if not chosen and coll.count() < settings.candidates:
        abstain_below = None  # fused scores over fewer candidates than the default was chosen on: another scale
    tracer = make_tracer(settings.langfuse_public_key, settings.langfuse_secret_key, settings.langfuse_host)
    reader = load_reader(settings.reader) if settings.reader else None
    checker = (
        SpanChecker.for_llm(prompts.check, settings.model) if reader is not None and settings.reader_check else None
    )
    return Engine(
        retriever,
        llm,
        prompts,
        tracer=tracer,
        context_k=settings.context_k,
        reader=reader,
        reader_k=settings.reader_k,
        reader_hint=settings.hints(),
        span_checker=checker,
        check_k=settings.reader_check_k,
        check_weight=settings.reader_check_weight,
        lead=settings.leads(),
        trim_sentences=settings.trims(),
        abstain_below=abstain_below,
        abstain_min_passages=0 if chosen else settings.candidates,
        max_question_chars=settings.question_max_chars,
    )
