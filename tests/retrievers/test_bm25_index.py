from retrievers.stores import BM25Index

IDS = ["p1", "p2", "p3"]
TEXTS = [
    "The Eiffel Tower stands in Paris",
    "Rivers flow into the sea; the Nile is long",
    "Cats are mammals and cats chase mice",
]


def test_search_ranks_by_bm25_with_stemming_and_stopwords():
    index = BM25Index.build(IDS, TEXTS)
    hits = index.search("cat chasing", 3)
    assert [pid for pid, _ in hits] == ["p3"]  # "chasing" and "cats" stem to match; other passages share nothing
    assert hits[0][1] > 0
    assert index.search("the and of", 3) == []  # stopwords only
    assert index.search("zebra", 3) == []  # unknown word


def test_score_gives_exact_scores_for_any_ids():
    index = BM25Index.build(IDS, TEXTS)
    ranked = dict(index.search("paris nile", 3))
    scores = index.score("paris nile", ["p1", "p2", "p3", "unknown"])
    assert scores["p1"] == ranked["p1"] and scores["p2"] == ranked["p2"]
    assert scores["p3"] == 0.0 and scores["unknown"] == 0.0


def test_a_question_scored_again_reuses_its_scores_and_another_question_does_not():
    index = BM25Index.build(IDS, TEXTS)
    calls = []
    scorer = index._model.get_scores_from_ids
    index._model.get_scores_from_ids = lambda ids: calls.append(ids) or scorer(ids)
    assert [pid for pid, _ in index.search("paris nile", 3, ["p2"])] == ["p2"]  # a filter does not alter them
    assert index.score("paris nile", ["p1", "p2"]) == dict(BM25Index.build(IDS, TEXTS).search("paris nile", 3))
    assert len(calls) == 1
    assert index.score("cats", ["p1", "p3"])["p3"] > 0 and index.score("cats", ["p1"])["p1"] == 0.0
    assert len(calls) == 2


def test_save_and_load_round_trip_with_atomic_pointer(tmp_path):
    index = BM25Index.build(IDS, TEXTS, generation=7)
    index.save(tmp_path / "bm25")
    first = (tmp_path / "bm25" / "CURRENT").read_text()
    loaded = BM25Index.load(tmp_path / "bm25")
    assert loaded.generation == 7 and loaded.ids == IDS
    assert loaded.search("eiffel", 2) == index.search("eiffel", 2)
    BM25Index.build(IDS[:1], TEXTS[:1], generation=8).save(tmp_path / "bm25")
    versions = list((tmp_path / "bm25").glob("v-*"))
    assert len(versions) == 1 and versions[0].name != first  # the old version is gone once switched
    assert BM25Index.load(tmp_path / "bm25").ids == ["p1"]


def test_empty_and_missing_indexes():
    empty = BM25Index.build([], [])
    assert empty.search("anything", 5) == [] and len(empty) == 0
    assert BM25Index.load("/nonexistent/dir") is None
