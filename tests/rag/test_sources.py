"""Listing and deleting one source of a collection, from Python and the command line."""

from __future__ import annotations

import pytest

from rag.documents.sources import SourceNotFound, delete_source, list_sources
from rag.retrieval import open_collection
from tests.conftest import run


def test_a_deleted_source_leaves_every_index(ingested, docs):
    before = {i.source: i.passages for i in list_sources(ingested)}
    paris = str(docs / "paris.txt")
    assert before[paris] >= 1 and len(before) == 4
    done = delete_source(ingested, "default", paris)
    assert done.removed == before[paris] and done.advice is None  # one small file of four: not worth compacting
    coll = open_collection(ingested)
    try:
        assert paris not in coll.signatures() and all(p.source != paris for p in coll.passages())
        assert not any(coll.consistency().values())  # table, dense store and BM25 agree
        assert coll.count() == sum(before.values()) - before[paris]
    finally:
        coll.close()
    with pytest.raises(SourceNotFound, match="no source"):
        delete_source(ingested, "default", paris)
    with pytest.raises(SourceNotFound, match=r"\(20,000 characters\)") as refused:  # the name is not echoed whole
        delete_source(ingested, "default", "a" * 20_000)
    assert len(str(refused.value)) < 400
    assert docs.joinpath("paris.txt").is_file()  # the user's own file is never touched


def test_the_cli_lists_and_deletes_sources(ingested, docs, capsys, monkeypatch):
    monkeypatch.setenv("RAG_STORE", str(ingested.store))
    code, out, _ = run(capsys, "delete", "default", "--list-sources")
    assert code == 0 and str(docs / "rivers.md") in out
    code, out, _ = run(capsys, "delete", "default", "--source", str(docs / "rivers.md"))
    assert code == 0 and "deleted" in out
    code, out, err = run(capsys, "delete", "default", "--source", "nope.txt")
    assert code != 0 and "no source" in err and "Traceback" not in err
    code, out, _ = run(capsys, "collections")
    assert "default" in out  # only the source went, not the collection


def test_compact_on_the_command_line_keeps_the_collection_searchable(ingested, docs, capsys, monkeypatch):
    monkeypatch.setenv("RAG_STORE", str(ingested.store))
    run(capsys, "delete", "default", "--source", str(docs / "rivers.md"))
    code, out, _ = run(capsys, "delete", "default", "--source", str(docs / "paris.txt"))
    assert code == 0 and "advice: " in out and "`rag compact default`" in out  # half of the passages went
    code, out, err = run(capsys, "compact", "default")
    assert code == 0 and out.startswith("compacted default in ") and "the store is" in out, err
    code, out, _ = run(capsys, "ingest", str(docs / "paris.txt"), "--collection", "default")
    assert code == 0 and "advice" not in out  # compaction starts the count again
    code, out, _ = run(capsys, "search", "Eiffel tower", "--json", "--mode", "dense")
    assert code == 0 and "paris" in out
    code, _, err = run(capsys, "compact", "nope")
    assert code == 1 and "does not exist" in err and "Traceback" not in err
