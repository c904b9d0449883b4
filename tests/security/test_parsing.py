"""Hostile files at ingest: input made to send a parser into backtracking or a rescan per character (each
must load in a few seconds), and input that exhausts the recursion limit or memory (that file fails with a
reason, and the rest of the ingest goes in)."""

from __future__ import annotations

import logging
import signal
import time
from contextlib import contextmanager

import pytest

import rag.documents.pipeline as ingestion_module
from rag.documents.loaders import MAX_TITLE, Input, LoadError, ReadLimits, TooManyPassages, load
from rag.documents.pipeline import ingest
from tests.rag.test_bad_inputs import texts

from ..conftest import write_docs

LIMIT_S = 5.0  # each input here is about 200 KB: linear parsing takes well under a second, even on a busy machine


@contextmanager
def finishes_within(seconds: float = LIMIT_S):
    """Fail the test, instead of hanging for hours on a backtracking parser, once the block runs past `seconds`."""

    def expired(signum, frame):  # noqa: ARG001
        pytest.fail(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - started < seconds


def load_file(tmp_path, name: str, content: str):
    path = write_docs(tmp_path / "in", {name: content}) / name
    return load(Input(source=str(path), path=path))


SLOW_TEXT = {  # each took from minutes to hours to load before
    "heading.md": "# a" + " " * 200_000 + "b\n\nThe body of the document.",  # cubic: 1,000 spaces took 3 s
    # html.parser rescans the rest of the page for each `<` that never closes
    "tags.html": "<p>The body of the page.</p>" + "<a\n" * 70_000,
    "open-tags.html": "<p>The body of the page.</p>" + "<a" * 100_000,
    "open-tables.html": "<p>The body of the page.</p>" + "<table><tr><td>a" * 15_000,  # each scanned to the end?
    "table-rows.html": "<p>The body of the page.</p><table>" + "<tr><td>a</td><td>b</td></tr>" * 8_000 + "</table>",
}


@pytest.mark.parametrize("name", sorted(SLOW_TEXT))
def test_inputs_made_to_backtrack_load_in_seconds(tmp_path, name):
    with finishes_within():
        loaded = load_file(tmp_path, name, SLOW_TEXT[name])
    assert "The body of the" in loaded.units[0].text
    assert loaded.units[0].title == {"heading.md": "a b"}.get(name, name.removesuffix(".html"))


def test_the_markdown_title_is_the_first_heading_with_text_on_one_short_line(tmp_path):
    assert load_file(tmp_path, "b.md", "#\t Rivers of the world ##  \r\n\ntext").units[0].title == "Rivers of the world"
    assert load_file(tmp_path, "c.md", "#no\n# \n## Sub\n# ##\n# C#\ntext").units[0].title == "C#"
    assert load_file(tmp_path, "d.md", "no heading\n#text").units[0].title == "d"
    long = load_file(tmp_path, "e.md", "# " + "word " * 100_000 + "\ntext").units[0].title
    assert len(long) <= MAX_TITLE and long.startswith("word word")


def test_html_text_keeps_what_a_reader_sees_and_drops_the_rest(tmp_path):
    page = (
        "<!DOCTYPE html><html><head><title>Cats &amp; dogs</title><style>p {color: red}</style>"
        "<script>var s = '</div><p>not text';</script><body><svg><title>icon</title></svg>"
        "<!-- <p>commented out</p> --><h1>Pets</h1><p class=\"x\" title='a > b'>Cats <b>purr</b>; 1 < 2.</p>"
        "<noscript>enable scripts</noscript><p>End<!-- an unclosed comment runs to the end <p>gone"
    )
    unit = load_file(tmp_path, "page.html", page).units[0]
    assert unit.title == "Cats & dogs"
    assert unit.text == "Pets\n\nCats purr; 1 < 2.\n\nEnd"


def test_a_head_without_its_end_tag_keeps_the_body(tmp_path):
    unit = load_file(tmp_path, "page.html", "<html><head><title>T</title><body><p>The body.</p>").units[0]
    assert (unit.title, unit.text) == ("T", "The body.")


DEEP = "[" * 100_000 + "]" * 100_000


def test_deeply_nested_json_is_refused_with_a_reason(tmp_path):
    with pytest.raises(LoadError, match="nested too deeply"):
        load_file(tmp_path, "deep.json", DEEP)
    loaded = load_file(tmp_path, "deep.jsonl", '{"text": "kept"}\n' + DEEP + "\n")
    assert [u.text for u in loaded.units] == ["kept"] and "line 2: JSON nested too deeply" in loaded.warnings[0]


def test_a_deeply_nested_json_file_fails_alone_and_the_rest_is_ingested(tmp_path, settings):
    folder = write_docs(
        tmp_path / "d",
        {
            "deep.json": DEEP,
            "deep.jsonl": DEEP + '\n{"text": "A record kept."}\n',
            "ok.txt": "A plain file that goes in.",
        },
    )
    report = ingest([str(folder)], settings, progress=False)
    assert [(p.rsplit("/", 1)[-1], "nested too deeply" in r) for p, r in report.failed] == [("deep.json", True)]
    assert texts(settings) == ["A plain file that goes in.", "A record kept."]


def failing_on_b_and_c(real):
    """`passages_of` that raises RecursionError for b.txt and MemoryError for c.txt, as hostile files would."""
    errors = {"b.txt": RecursionError("maximum recursion depth exceeded"), "c.txt": MemoryError()}

    def passages_of(item, loaded, settings, meta=None):
        if item.path.name in errors:
            raise errors[item.path.name]
        return real(item, loaded, settings, meta)

    return passages_of


def test_recursion_and_memory_errors_fail_their_file_only_and_are_logged(tmp_path, settings, monkeypatch, caplog):
    folder = write_docs(
        tmp_path / "d",
        {"a.txt": "Alpha is fine.", "b.txt": "Beta recurses.", "c.txt": "Gamma is big.", "d.txt": "Delta is fine."},
    )
    monkeypatch.setattr(ingestion_module, "passages_of", failing_on_b_and_c(ingestion_module.passages_of))
    with caplog.at_level(logging.WARNING, logger="rag.documents.pipeline"):
        report = ingest([str(folder)], settings, progress=False)
    assert [(p.rsplit("/", 1)[-1], r) for p, r in report.failed] == [
        ("b.txt", "nested too deeply to read (RecursionError)"),
        ("c.txt", "too large to read in the memory available (MemoryError)"),
    ]
    assert texts(settings) == ["Alpha is fine.", "Delta is fine."] and report.files_read == 2
    assert sum("b.txt" in r.getMessage() or "c.txt" in r.getMessage() for r in caplog.records) == 2


def test_rag_encode_contains_recursion_and_memory_errors_per_file_too(tmp_path, settings, monkeypatch, caplog):
    import rag.documents.encoding as encoding_module
    from rag.documents.encoding import encode

    folder = write_docs(
        tmp_path / "d",
        {"a.txt": "Alpha is fine.", "b.txt": "Beta recurses.", "c.txt": "Gamma is big.", "deep.json": DEEP},
    )
    monkeypatch.setattr(encoding_module, "passages_of", failing_on_b_and_c(encoding_module.passages_of))
    with caplog.at_level(logging.WARNING, logger="rag.documents.encoding"):
        report = encode([str(folder)], settings, tmp_path / "vectors", progress=False)
    failed = {p.rsplit("/", 1)[-1]: r for p, r in report.failed}
    assert failed["b.txt"] == "nested too deeply to read (RecursionError)"
    assert failed["c.txt"] == "too large to read in the memory available (MemoryError)"
    assert "nested too deeply" in failed["deep.json"] and len(failed) == 3
    assert report.passages == report.encoded == 1  # a.txt
    assert sum("b.txt" in r.getMessage() or "c.txt" in r.getMessage() for r in caplog.records) == 2


def test_bad_jsonl_lines_cost_a_counter_and_a_file_of_them_stops_being_read(tmp_path):
    good = "".join(f'{{"title": "t", "text": "Good record {i}."}}\n' for i in range(2000))
    loaded = load_file(tmp_path, "some-bad.jsonl", good + "x\n" * 1500)  # bad: over the limit, under the good
    assert len(loaded.units) == 2000
    assert loaded.warnings == [
        "1500 record(s) skipped: line 2001: invalid JSON (Expecting value); "
        "line 2002: invalid JSON (Expecting value); line 2003: invalid JSON (Expecting value); "
        "and 1497 more"
    ]
    with finishes_within():  # ten million bad lines would take a minute to read to the end
        with pytest.raises(LoadError, match="more than 1000 malformed lines, and more than good ones"):
            load_file(tmp_path, "bad.jsonl", '{"title": "t", "text": "The good one."}\n' + "x\n" * 10_000_000)


def test_a_records_file_over_the_passage_limit_stops_being_read_at_the_record_past_it(tmp_path, monkeypatch):
    import json

    import rag.formats.records as records_module

    records = "".join(f'{{"title": "t", "text": "Record {i}."}}\n' for i in range(1000))
    parsed = []

    class CountingJson:  # json as the loader sees it, counting the lines it parses
        JSONDecodeError = json.JSONDecodeError

        @staticmethod
        def loads(text):
            parsed.append(text)
            return json.loads(text)

    listed = "[" + records.replace("\n", ",")[:-1] + "]"
    path = write_docs(tmp_path / "in", {"many.jsonl": records, "many.json": listed})
    monkeypatch.setattr(records_module, "json", CountingJson)
    with pytest.raises(TooManyPassages, match="more than 10 passages.*RAG_UPLOAD_MAX_PASSAGES"):
        load(Input(source="many.jsonl", path=path / "many.jsonl"), limits=ReadLimits(max_units=10))
    assert len(parsed) == 11  # not the 1,000 lines
    with pytest.raises(TooManyPassages):
        load(Input(source="many.json", path=path / "many.json"), limits=ReadLimits(max_units=10))
    whole = load(Input(source="many.jsonl", path=path / "many.jsonl"), limits=ReadLimits(max_units=1000))
    assert len(whole.units) == 1000


def test_an_ingest_bounded_in_passages_refuses_the_file_that_passes_it_and_keeps_the_rest(tmp_path, settings):
    folder = write_docs(
        tmp_path / "d",
        {
            "a.jsonl": "".join(f'{{"text": "Alpha record {i}."}}\n' for i in range(3)),
            "b.jsonl": "".join(f'{{"text": "Beta record {i}."}}\n' for i in range(3)),  # 3 + 3 > 5: refused whole
            "c.txt": " ".join(f"word{i}" for i in range(400)),  # 4 passages of 100 words: over the 2 left
            "d.txt": "Delta is one passage.",
        },
    )
    report = ingest([str(folder)], settings, progress=False, max_passages=5)
    assert {p.rsplit("/", 1)[-1]: "RAG_UPLOAD_MAX_PASSAGES" in r for p, r in report.failed} == {
        "b.jsonl": True,
        "c.txt": True,
    }
    assert "more than 2 passages" in dict((p.rsplit("/", 1)[-1], r) for p, r in report.failed)["b.jsonl"]
    assert texts(settings) == ["Alpha record 0.", "Alpha record 1.", "Alpha record 2.", "Delta is one passage."]
    unbounded = ingest([str(folder)], settings, progress=False)  # the command line has no such bound
    assert not unbounded.failed and unbounded.added == 3 + 4  # b, and c in 4 passages
