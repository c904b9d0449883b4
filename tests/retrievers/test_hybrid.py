"""The hybrid retriever's fast paths: BM25 beside the encoder, and questions encoded ahead in batches."""

import pytest

from retrievers import HybridRetriever
from retrievers.tracing import NULL_TRACER

QUESTIONS = [
    "Who designed the Eiffel Tower?",
    "Which river carries the most water?",
    "red planet iron oxide",
    "house pet that catches mice",
    "How long does the Moon take to orbit Earth?",
]


@pytest.mark.parametrize("fusion", ["rrf", "linear"])
def test_concurrent_hybrid_returns_what_sequential_does(ingested, fusion):
    concurrent = HybridRetriever.from_defaults("default", store_dir=ingested.store, fusion=fusion, similarity_top_k=4)
    sequential = HybridRetriever(
        concurrent.dense, concurrent.sparse, fusion=fusion, similarity_top_k=4, concurrent=False
    )
    assert concurrent.concurrent and sequential._pool is None
    for question in QUESTIONS:
        a = [(p.id, round(s, 6)) for p, s in concurrent.search(question)]
        b = [(p.id, round(s, 6)) for p, s in sequential.search(question)]
        assert a == b and len(a) == 4


def test_vectors_read_beside_bm25_give_the_exact_scores_read_after_it(ingested):
    hybrid = HybridRetriever.from_defaults("default", store_dir=ingested.store, fusion="linear", candidates=3)
    for question in QUESTIONS:
        vector = hybrid.dense.encode_query(question)
        dense_run = hybrid.dense.search_ids(vector, 3, None)
        sparse_run, stored = hybrid._sparse_side(question, 3, NULL_TRACER, None, True)
        assert set(stored) == {pid for pid, _ in sparse_run}
        read_after = hybrid.exact_scores(question, vector, sparse_run, dense_run)
        read_beside = hybrid.exact_scores(question, vector, sparse_run, dense_run, stored)
        assert read_beside[0] == read_after[0] and read_beside[1].keys() == read_after[1].keys()
        assert all(read_beside[1][pid] == pytest.approx(read_after[1][pid], abs=1e-6) for pid in read_after[1])


def test_primed_questions_skip_the_encoder_and_give_the_same_results(ingested):
    retriever = HybridRetriever.from_defaults("default", store_dir=ingested.store, similarity_top_k=3)
    before = [[p.id for p, _ in retriever.search(q)] for q in QUESTIONS]
    calls = []
    encoder = retriever.dense.encoder
    original = encoder.encode_query

    def counting(texts):
        calls.append(len(texts))
        return original(texts)

    encoder.encode_query = counting
    try:
        retriever.prime(QUESTIONS)
        after = [[p.id for p, _ in retriever.search(q)] for q in QUESTIONS]
    finally:
        del encoder.encode_query
    assert calls == [len(QUESTIONS)]  # one batch, then no encoding per search
    assert after == before
    retriever.dense.forget_primed()
    assert retriever.dense._primed == {}


def test_rrf_counts_the_dense_run_twice_by_default_and_linear_uses_the_validated_lambda(ingested):
    from retrievers import reciprocal_rank_fusion

    rrf = HybridRetriever.from_defaults("default", store_dir=ingested.store, similarity_top_k=5)
    assert rrf.dense_weight == 2.0 and rrf.rrf_k == 60
    for question in QUESTIONS:
        dense_run = rrf.dense.search_ids(rrf.dense.encode_query(question), rrf.candidates)
        sparse_run = rrf.sparse.search_ids(question, rrf.candidates)
        expected = reciprocal_rank_fusion([sparse_run, dense_run], k=60, top_k=5, weights=[1.0, 2.0])
        equal = reciprocal_rank_fusion([sparse_run, dense_run], k=60, top_k=5)
        got = [(p.id, round(s, 9)) for p, s in rrf.search(question)]
        assert got == [(pid, round(s, 9)) for pid, s in expected]
        assert got != [(pid, round(s, 9)) for pid, s in equal]  # the scores tell the two weightings apart
    assert HybridRetriever(rrf.dense, rrf.sparse, fusion="linear").dense_weight == 4.0  # z-scored runs: see hybrid.py


def test_a_vector_that_reached_chroma_before_its_table_row_is_passed_over_not_returned_short(ingested, encoder):
    from retrievers import Passage

    retriever = HybridRetriever.from_defaults("default", store_dir=ingested.store, similarity_top_k=3)
    question = "Who designed the Eiffel Tower?"
    before = [p.id for p, _ in retriever.search(question)]
    # what an ingest in progress looks like to a reader: the vector is in Chroma, the passage table has no row yet
    ghost = Passage(id="ghost", text="Gustave Eiffel designed the Eiffel Tower.", title="ghost", source="ghost")
    retriever.collection.dense().upsert([ghost], encoder.encode_passage([ghost.indexed_text]))
    assert "ghost" in [pid for pid, _ in retriever.dense.search_ids(retriever.dense.encode_query(question), 3)]
    after = retriever.search(question)
    assert len(after) == 3 and "ghost" not in [p.id for p, _ in after]
    assert [p.id for p, _ in after][:1] == before[:1]
