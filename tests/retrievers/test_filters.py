"""Metadata filters: every retriever returns only passages that meet them, before any scoring, and k is still
honoured when enough match; the filters are written as --where expressions, API JSON or LlamaIndex's
MetadataFilters."""

from __future__ import annotations

import pytest

from retrievers import BM25Retriever, Collection, DPRRetriever, HybridRetriever, make_passages
from retrievers.filters import FilterError, as_filters, from_json, parse_where
from retrievers.stores import SourceUpdate

DOCS = {  # source -> (title, text, metadata)
    "/data/docs/paris.md": ("Paris", "The Eiffel Tower in Paris was designed by Gustave Eiffel.", {"year": 1889}),
    "/data/docs/rome.md": ("Rome", "The Colosseum in Rome is an amphitheatre built of concrete.", {"year": 80}),
    "/data/notes/tower.txt": ("Towers", "A tower is a tall structure, like the Eiffel Tower.", {"year": 2020}),
    "/data/report.pdf": ("Report", "Revenue of the tower company grew in 2020.", {"page": 3, "year": 2020}),
    "/data/slides.pptx": ("Deck", "The tower's visitors by season.", {"slide": 2, "team": "sales"}),
}


@pytest.fixture
def coll(tmp_path, encoder):
    collection = Collection("filters", tmp_path / "store", create=True)
    updates = [
        SourceUpdate(source, "sig", make_passages(source, [(title, text, extra)]))
        for source, (title, text, extra) in DOCS.items()
    ]
    collection.update(updates, encoder)
    yield collection
    collection.close()


def sources(hits):
    return sorted(p.source.rsplit("/", 1)[-1] for p, _ in hits)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: DPRRetriever.from_defaults(c, similarity_top_k=10),
        lambda c: BM25Retriever.from_defaults(c, similarity_top_k=10),
        lambda c: HybridRetriever.from_defaults(c, similarity_top_k=10, fusion="linear"),
        lambda c: HybridRetriever.from_defaults(c, similarity_top_k=10, fusion="rrf"),
    ],
)
def test_every_retriever_returns_only_what_the_filters_allow(coll, make):
    retriever = make(coll)
    question = "Who designed the Eiffel Tower?"
    in_docs = set(sources(retriever.search(question, filters=["source=docs/*"])))
    assert "paris.md" in in_docs and in_docs <= {"paris.md", "rome.md"}
    assert set(sources(retriever.search(question, filters=["type=pdf|pptx"]))) <= {"report.pdf", "slides.pptx"}
    assert sources(retriever.search(question, filters=["year>=2020", "type=txt"])) == ["tower.txt"]
    assert retriever.search(question, filters=["team=nobody"]) == []
    dense_like = not isinstance(retriever, BM25Retriever)
    if dense_like:  # every passage has a vector: all that match come back, none other, k honoured
        assert sources(retriever.search(question, filters=["year!=80"])) == [
            "paris.md",
            "report.pdf",
            "slides.pptx",
            "tower.txt",
        ]
        assert len(retriever.search(question, 2, filters=["year!=80"])) == 2
        assert sources(retriever.search(question, filters={"filters": [{"key": "page", "value": 3}]})) == ["report.pdf"]


def test_bm25_leaves_out_a_filtered_passage_even_when_nothing_else_scores(coll):
    bm25 = BM25Retriever.from_defaults(coll)
    assert sources(bm25.search("Colosseum amphitheatre")) == ["rome.md"]
    assert bm25.search("Colosseum amphitheatre", filters=["source=notes/*"]) == []  # not rome.md with score 0


def test_a_retrievers_own_filters_apply_to_every_search_and_llamaindex_metadata_filters_work(coll):
    from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

    filters = MetadataFilters(filters=[MetadataFilter(key="year", value=2020, operator=FilterOperator.GTE)])
    retriever = HybridRetriever.from_defaults(coll, similarity_top_k=5, filters=filters)
    nodes = retriever.retrieve("tower")
    assert sorted(n.node.metadata["source"].rsplit("/", 1)[-1] for n in nodes) == ["report.pdf", "tower.txt"]
    either = MetadataFilters(
        filters=[MetadataFilter(key="team", value="sales"), MetadataFilter(key="page", value=3)], condition="or"
    )
    assert sources(retriever.search("tower", filters=either)) == ["report.pdf", "slides.pptx"]


def test_filters_persist_with_the_retriever(coll, tmp_path):
    retriever = DPRRetriever.from_defaults(coll, filters=["source=docs/*"])
    retriever.persist(tmp_path / "r")
    again = DPRRetriever.from_persist_dir(tmp_path / "r")
    assert again.filters == retriever.filters
    assert sources(again.search("tower")) == ["paris.md", "rome.md"]


def test_where_expressions_and_json_mean_the_same_filters():
    where = parse_where(["source=docs/*", "year>=2020", "type=pdf|docx", "lang!=fr", "score<0.5", "draft=false"])
    assert [(c.key, c.op, c.value) for c in where.conditions] == [
        ("source", "glob", "docs/*"),
        ("year", ">=", 2020),
        ("type", "in", ("pdf", "docx")),
        ("lang", "!=", "fr"),
        ("score", "<", 0.5),
        ("draft", "==", False),
    ]
    assert from_json(where.to_dict()) == where and as_filters(where.to_dict()) == where


@pytest.mark.parametrize(
    "bad, reason",
    [
        (["year"], "expected KEY=VALUE"),
        (["bad key=1"], "expected KEY=VALUE"),
        (["year>>3"], "starts with an operator"),
        (["year=>2020"], "starts with an operator"),
        (["year<=!5"], "starts with an operator"),
        ({"filters": [{"key": "x"}]}, "needs a key and a value"),
        ({"filters": [{"key": "x", "value": 1, "operator": "regex"}]}, "supported are"),
        ({"filters": [{"key": "x", "value": [1], "operator": "=="}]}, "values are numbers"),
        ({"filters": [{"key": "x", "value": 1}], "condition": "not"}, "must be 'and' or 'or'"),
        ({"filters": [{"key": "x", "value": 1}] * 33}, "at most 32"),
        ({"filters": [{"key": "x", "value": "a" * 1001}]}, "at most 1,000 characters"),
        ({"filters": [{"key": "x'); DROP TABLE passages; --", "value": 1}]}, "letters, digits"),
        (42, "cannot use a int"),
    ],
)
def test_bad_filters_are_one_clear_error(bad, reason):
    with pytest.raises(FilterError, match=reason.replace("(", r"\(")):
        as_filters(bad)


def test_filters_need_the_retrievers_collection(coll):
    bare = DPRRetriever(coll.dense(), coll.encoder())
    with pytest.raises(FilterError, match="need the retriever's collection"):
        bare.search("tower", filters=["year=1"])


def test_values_compare_only_with_values_of_their_kind():
    year, flag, one = (parse_where([w]).conditions[0] for w in ("year>=2020", "draft=true", "n=1"))
    assert year.test(2021) and year.test(2020.5) and not year.test("2021") and not year.test(None)
    assert flag.test(True) and not flag.test(1) and not one.test(True) and one.test(1) and one.test(1.0)
    glob = parse_where(["source=docs/*.md"]).conditions[0]
    assert glob.test("/home/me/docs/a.md") and glob.test("docs/a.md") and not glob.test("/home/me/mydocs/a.md")


def test_a_collection_change_is_seen_by_the_next_filtered_search(coll, encoder):
    retriever = DPRRetriever.from_defaults(coll)
    assert sources(retriever.search("tower", filters=["year=2021"])) == []
    coll.update(
        [
            SourceUpdate(
                "/data/new.txt", "sig", make_passages("/data/new.txt", [("New", "A new tower.", {"year": 2021})])
            )
        ],
        encoder,
    )
    assert sources(retriever.search("tower", filters=["year=2021"])) == ["new.txt"]
