"""Tracing: the span tree of one question, captured locally (no Langfuse server can run here)."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rag.answer import Engine
from rag.retrieval import open_collection, open_retriever
from rag.tracing import LangfuseTracer, make_tracer
from retrievers import NULL_TRACER
from tests.rag.fakes import ScriptedLLM

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    tracer = LangfuseTracer(
        f"pk-{uuid.uuid4()}", "sk-test", "http://127.0.0.1:9", span_exporter=exporter, tracer_provider=provider
    )
    yield tracer, exporter
    provider.shutdown()


def test_one_question_is_one_trace_with_a_span_per_step(ingested, captured):
    tracer, exporter = captured
    coll = open_collection(ingested)
    llm = ScriptedLLM(["It is in Paris [1]."], condense="Where is the Eiffel Tower?")
    engine = Engine(open_retriever(ingested, coll, "hybrid"), llm, tracer=tracer)
    history = [
        {"role": "user", "content": "Tell me about the Eiffel Tower."},
        {"role": "assistant", "content": "A tower."},
    ]
    answer = engine.ask("Where is it?", history)
    tracer.flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert {
        "rag.answer",
        "condense",
        "retrieval",
        "retrieve.bm25",
        "retrieve.dense",
        "retrieve.fusion",
        "prompt",
        "generation",
    } <= set(spans)
    root = spans["rag.answer"]
    assert root.parent is None
    assert len({s.context.trace_id for s in spans.values()}) == 1  # one trace
    for child in ("condense", "retrieval", "prompt", "generation"):
        assert spans[child].parent.span_id == root.context.span_id, child
    for step in ("retrieve.bm25", "retrieve.dense", "retrieve.fusion"):  # BM25 ran on another thread, still nested
        assert spans[step].parent.span_id == spans["retrieval"].context.span_id, step
    attrs = spans["retrieve.fusion"].attributes
    fused_ids = [s.passage.id for s in answer.sources]
    assert all(pid in str(attrs) for pid in fused_ids)  # passage ids and scores recorded
    generation = spans["generation"].attributes
    assert "generation" in str(generation.get("langfuse.observation.type"))
    assert generation.get("langfuse.observation.model.name") == "scripted/test"
    assert "It is in Paris" in str(generation.get("langfuse.observation.output"))


def test_an_unreachable_langfuse_never_affects_answers(ingested):
    tracer = LangfuseTracer(f"pk-{uuid.uuid4()}", "sk-test", "http://127.0.0.1:9")  # nothing listens there
    engine = Engine(
        open_retriever(ingested, open_collection(ingested), "bm25"), ScriptedLLM(["Mars [1]"]), tracer=tracer
    )
    assert engine.ask("red planet").answer == "Mars [1]"
    tracer.flush()


def test_without_keys_tracing_is_a_silent_no_op():
    assert make_tracer(None, None, None) is NULL_TRACER
    assert make_tracer("pk", None, None) is NULL_TRACER
    code = (
        "import sys; from rag.tracing import make_tracer; make_tracer(None, None, None); "
        "print('langfuse' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False" and out.stderr == ""
