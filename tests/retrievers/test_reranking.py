"""The second stage: the Reranker interface with a tiny cross-encoder trained here, the reader's selection head,
reranked order on hand-made candidates, the reranked retriever over a collection (filters included), and the
LlamaIndex postprocessor inside a RetrieverQueryEngine."""

from __future__ import annotations

import pytest

from retrievers import Collection, HybridRetriever, Passage, RagError, SourceUpdate, make_passages
from retrievers.errors import ModelNotFound
from retrievers.reranking import CrossEncoderReranker, ReaderReranker, RerankedRetriever, RerankPostprocessor, rerank
from tests.conftest import RERANK_PAIRS as PAIRS


def passage(pid, text, title=""):
    return Passage(id=pid, text=text, title=title)


class FixedReranker:
    name = "fixed"

    def __init__(self, scores):
        self._scores = scores

    def scores(self, query, passages):
        return [self._scores[p.id] for p in passages]


def test_rerank_orders_hand_made_candidates_and_keeps_ties_in_first_stage_order():
    candidates = [passage("a", "x"), passage("b", "y"), passage("c", "z"), passage("d", "w")]
    ranked = rerank(FixedReranker({"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.5}), "q", candidates, 3)
    assert [(p.id, s) for p, s in ranked] == [("b", 0.9), ("c", 0.5), ("d", 0.5)]
    assert rerank(FixedReranker({}), "q", [], 3) == []


def test_a_trained_cross_encoder_puts_the_answering_passage_first(cross_encoder_dir):
    reranker = CrossEncoderReranker(cross_encoder_dir)
    candidates = [passage(str(i), p) for i, p in enumerate(sorted({p for _, p, _ in PAIRS}))]
    for question, text, relevant in PAIRS:
        if relevant:
            best, _ = rerank(reranker, question, candidates, 1)[0]
            assert best.text == text, question
    assert reranker.name == "tiny-cross-encoder"


def test_a_bad_reranker_directory_is_one_clear_error(tmp_path):
    with pytest.raises(ModelNotFound, match="not a CrossEncoder directory"):
        CrossEncoderReranker(tmp_path / "nowhere")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")
    with pytest.raises(ModelNotFound, match="could not be loaded"):
        CrossEncoderReranker(tmp_path / "broken")


@pytest.fixture
def coll(tmp_path, encoder):
    collection = Collection("reranked", tmp_path / "store", create=True)
    texts = sorted({p for _, p, _ in PAIRS})
    collection.update(
        [
            SourceUpdate(f"/docs/{i}.txt", "s", make_passages(f"/docs/{i}.txt", [("", t, {})]))
            for i, t in enumerate(texts)
        ],
        encoder,
    )
    yield collection
    collection.close()


def test_the_reranked_retriever_reranks_the_first_stages_candidates_under_its_filters(coll, cross_encoder_dir):
    first = HybridRetriever.from_defaults(coll, fusion="linear")
    retriever = RerankedRetriever(first, CrossEncoderReranker(cross_encoder_dir), candidates=5, similarity_top_k=2)
    hits = retriever.search("why is mars red")
    assert len(hits) == 2 and "iron oxide" in hits[0][0].text
    kept = retriever.search("why is mars red", filters=["source=*/0.txt|*/1.txt"])
    assert {p.source for p, _ in kept} <= {"/docs/0.txt", "/docs/1.txt"}
    few = RerankedRetriever(first, FixedReranker({}), candidates=2, similarity_top_k=4)
    few.reranker = FixedReranker({p.id: 0.0 for p, _ in first.search("why is mars red", 4)})
    first_order = [p.id for p, _ in first.search("why is mars red", 4)]
    deep = few.search("why is mars red", 4)  # only 2 candidates reranked, the rest kept in first-stage order after
    assert [p.id for p, _ in deep] == first_order and [s for _, s in deep][2:] == [-1.0, -2.0]
    nodes = retriever.retrieve("who designed the eiffel tower")
    assert "Gustave Eiffel" in nodes[0].node.get_content()
    with pytest.raises(RagError, match="needs candidates"):
        RerankedRetriever(first, CrossEncoderReranker(cross_encoder_dir), candidates=0)


def test_the_postprocessor_works_inside_a_llamaindex_query_engine(coll, cross_encoder_dir):
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    first = HybridRetriever.from_defaults(coll, similarity_top_k=4)
    engine = RetrieverQueryEngine.from_args(
        first,
        llm=MockLLM(),
        node_postprocessors=[RerankPostprocessor(CrossEncoderReranker(cross_encoder_dir), top_n=1)],
    )
    response = engine.query("what do cats chase")
    assert len(response.source_nodes) == 1 and "mice" in response.source_nodes[0].node.get_content()


class StubReader:
    def __init__(self, select):
        self.select = select

    def score(self, question, contexts):
        import numpy as np

        class Reading:
            select = np.array(self.select[: len(contexts)], dtype=float)

        return Reading()


def test_the_readers_selection_head_is_a_reranker():
    reranker = ReaderReranker(StubReader([0.1, 2.0, -1.0]))
    ranked = rerank(reranker, "q", [passage("a", "x"), passage("b", "y"), passage("c", "z")])
    assert [p.id for p, _ in ranked] == ["b", "a", "c"]
