"""A document's own metadata (Markdown front matter, JSON record fields, `--meta`) reaches its passages, can be
changed without encoding again, and is what `--where` filters on from the command line and the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.config import Settings
from rag.documents.pipeline import ingest
from rag.formats.metadata import parse_meta, split_front_matter, user_metadata
from rag.formats.records import read_jsonl
from rag.formats.text import read_markdown
from rag.retrieval import open_collection
from retrievers.errors import RagError
from tests.conftest import run

FRONT = """---
title: Quarterly review
year: 2021
draft: false
tags: [finance, europe]
date: 2021-03-04
author: {name: Ann}
source: /etc/passwd
---
# Ignored heading

Revenue in Europe grew by a tenth.
"""


def test_front_matter_becomes_the_title_and_metadata_and_leaves_the_text():
    parsed = read_markdown(FRONT.encode(), Path("q1.md"))
    unit = parsed.units[0]
    assert unit.title == "Quarterly review"
    assert unit.extra == {"year": 2021, "draft": False, "tags": "finance, europe", "date": "2021-03-04"}
    assert unit.text.startswith("# Ignored heading") and "year:" not in unit.text
    assert any("'author'" in w for w in parsed.warnings) and any(
        "'source'" in w and "reserved" in w for w in parsed.warnings
    )


@pytest.mark.parametrize(
    "text,kept",
    [
        ("---\n: [unclosed\n---\nbody", True),  # not YAML: the block stays in the text
        ("---\n- a list\n---\nbody", True),  # YAML, but not a mapping
        ("--- not front matter\nbody", True),
        ("---\n---\nbody", False),  # empty front matter
    ],
)
def test_front_matter_that_is_not_a_mapping_stays_text(text, kept):
    front, body, warnings = split_front_matter(text)
    assert (body == text) is kept
    assert not kept or front is None
    assert body.endswith("body")


def test_record_fields_become_metadata_and_lists_of_objects_do_not():
    lines = [
        {
            "id": 7,
            "title": "T",
            "text": "Some text.",
            "year": 2020,
            "lang": "en",
            "nested": {"a": 1},
            "authors": ["Ann", "Bo"],
            "rows": [{"x": 1}],
        }
    ]
    unit = read_jsonl("\n".join(json.dumps(r) for r in lines).encode(), Path("r.jsonl")).units[0]
    assert unit.extra == {"doc_id": "7", "year": 2020, "lang": "en", "authors": "Ann, Bo"}


def test_user_metadata_bounds_keys_and_values():
    kept, warnings = user_metadata([(f"k{i}", "v" * 5000) for i in range(40)] + [("bad key", 1)], "x")
    assert len(kept) == 32 and all(len(v) == 1000 for v in kept.values())
    assert any("more than 32" in w for w in warnings) and any("'bad key'" in w for w in warnings)


def test_meta_options_are_typed_and_checked():
    assert parse_meta(["year=2021", "team=legal", "final=true", "ratio=0.5"]) == {
        "year": 2021,
        "team": "legal",
        "final": True,
        "ratio": 0.5,
    }
    for bad in (["novalue"], ["source=x"], ["bad key=1"]):
        with pytest.raises(RagError):
            parse_meta(bad)


def _passage_meta(settings: Settings, name: str = "default") -> dict[str, dict]:
    coll = open_collection(settings, name)
    try:
        return {p.source.rsplit("/", 1)[-1]: dict(p.extra) for p in coll.passages()}
    finally:
        coll.close()


def test_meta_at_ingest_relabels_without_encoding_again_and_filters_see_it(docs, tmp_path):
    settings = Settings(store=tmp_path / "store")
    first = ingest([str(docs)], settings, progress=False, meta={"team": "geo", "year": 2020})
    assert first.added == 5 and all(m["team"] == "geo" for m in _passage_meta(settings).values())
    again = ingest([str(docs)], settings, progress=False, meta={"year": 2021})
    assert again.added == 0 and again.removed == 0  # same text: relabelled, not re-encoded
    metas = _passage_meta(settings)
    assert all(m.get("year") == 2021 and "team" not in m for m in metas.values())

    from rag.retrieval import open_retriever
    from retrievers.filters import parse_where

    coll = open_collection(settings)
    try:
        for mode in ("dense", "bm25", "hybrid"):
            retriever = open_retriever(settings.model_copy(update={"mode": mode}), coll)
            hits = retriever.search("Eiffel tower", 5, filters=parse_where(["year=2021", "source=*paris*"]))
            assert [p.source.rsplit("/", 1)[-1] for p, _ in hits] == ["paris.txt"]
            assert all("team" not in p.extra and p.extra["year"] == 2021 for p, _ in hits)  # Chroma's copy too
            assert retriever.search("Eiffel tower", 5, filters=parse_where(["team=geo"])) == []
        assert not any(coll.consistency().values())
    finally:
        coll.close()


def test_where_on_the_command_line(store, capsys):
    code, out, _ = run(capsys, "search", "Eiffel tower", "--store", store, "--where", "source=*rivers*", "--json")
    hits = json.loads(out)
    assert code == 0 and hits and all(h["source"].endswith("rivers.md") for h in hits)
    code, out, _ = run(capsys, "search", "Eiffel tower", "--store", store, "--where", "type=none", "--json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "search", "x", "--store", store, "--where", "no operator")
    assert code == 1 and err.startswith("error: filter 'no operator': expected KEY=VALUE") and "Traceback" not in err


def test_sources_lists_passages_and_ingest_times(store, capsys):
    code, out, _ = run(capsys, "sources", "--store", store, "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4 and sum(r["passages"] for r in rows) == 5
    assert all(r["ingested"].startswith("20") for r in rows)
    code, out, _ = run(capsys, "sources", "default", "--store", store)
    assert code == 0 and "paris.txt" in out and "Z" in out


def test_ingest_meta_on_the_command_line(docs, tmp_path, capsys):
    store = str(tmp_path / "s")
    code, _, _ = run(capsys, "ingest", str(docs), "--store", store, "--meta", "team=geo", "--no-progress")
    assert code == 0
    code, out, _ = run(capsys, "search", "river", "--store", store, "--where", "team=geo", "--json")
    assert code == 0 and len(json.loads(out)) == 5
    code, _, err = run(capsys, "ingest", str(docs), "--store", store, "--meta", "position=3")
    assert code == 1 and "reserved" in err
