"""The documents people have: Word, PowerPoint, Excel and CSV files, e-books, RTF and e-mails, with their tables
kept as Markdown tables under a repeated header and their headings, slides and sheets as citable metadata."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from rag.documents.loaders import Input, LoadError, load
from rag.documents.pipeline import ingest
from rag.formats import SUPPORTED_TYPES
from rag.formats.tables import TABLE_WORDS
from retrievers import Collection

from .documents import make_docx, make_eml, make_epub, make_pdf_with_table, make_pptx, make_rtf, make_xlsx

PRICES = [["Fruit", "Price", "Origin"], ["Apple", "1.20", "Kent"], ["Mango | ripe", "2.50", "Goa"]]


def load_bytes(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return load(Input(source=str(path), path=path))


def test_every_new_format_is_supported():
    assert {".docx", ".pptx", ".xlsx", ".csv", ".epub", ".rtf", ".eml"} <= set(SUPPORTED_TYPES)


def test_a_word_file_is_read_by_section_with_its_heading_and_its_table_as_markdown(tmp_path):
    data = make_docx(
        [
            ("Introduction", ["The orchard grows apples.", "It was planted in 1901."]),
            ("Prices", ["Prices are per kilogram."]),
        ],
        table=PRICES,
        title="Orchard report",
    )
    units = load_bytes(tmp_path, "orchard.docx", data).units
    assert [u.title for u in units] == ["Orchard report"] * 3
    intro, prices, table = units
    assert intro.text == "Introduction\nThe orchard grows apples.\nIt was planted in 1901."
    assert intro.extra == {"heading": "Introduction"} and prices.extra["heading"] == "Prices"
    assert table.whole and table.extra == {"heading": "Prices", "rows": "2-3"}
    assert table.text == (
        "Prices\n| Fruit | Price | Origin |\n| --- | --- | --- |\n| Apple | 1.20 | Kent |\n"
        "| Mango \\| ripe | 2.50 | Goa |"
    )


def test_a_deck_is_read_by_slide_with_its_tables_and_notes(tmp_path):
    data = make_pptx(
        [("Harvest", "Apples are picked in September."), ("Sales", "Mangoes sold best.")],
        table=PRICES,
        notes="Mention the Kent farm.",
    )
    units = load_bytes(tmp_path, "deck.pptx", data).units
    assert [u.extra["slide"] for u in units] == [1, 2, 2]
    assert units[0].text == "Harvest\nApples are picked in September." and units[0].extra["heading"] == "Harvest"
    assert units[1].text.endswith("Notes: Mention the Kent farm.")
    assert units[2].whole and units[2].text.startswith("Sales\n| Fruit | Price | Origin |")


def test_each_sheet_is_a_table_whose_long_body_is_cut_with_the_header_repeated(tmp_path):
    rows = [["id", "city", "population"]] + [[i, f"City {i}", i * 1000] for i in range(1, 10_001)]
    data = make_xlsx({"Prices": PRICES, "Cities": rows, "Empty": []})
    units = load_bytes(tmp_path, "book.xlsx", data).units
    assert units[0].extra == {"sheet": "Prices", "rows": "2-3"} and "| Apple | 1.20 | Kent |" in units[0].text
    cities = units[1:]
    assert all(u.extra["sheet"] == "Cities" and u.whole for u in cities)
    assert all(u.text.startswith("| id | city | population |\n| --- | --- | --- |\n") for u in cities)
    assert all(len(u.text.split()) <= TABLE_WORDS for u in cities)
    assert cities[0].extra["rows"] == f"2-{1 + cities[0].text.count(chr(10)) - 1}"
    assert "| 10000 | City 10000 | 10000000 |" in cities[-1].text and cities[-1].extra["rows"].endswith("-10001")
    body = [line for u in cities for line in u.text.splitlines()[2:]]
    assert len(body) == 10_000  # every row once, none lost at the cuts


def test_a_csv_file_with_semicolons_is_a_table(tmp_path):
    units = load_bytes(tmp_path, "fruit.csv", b"Fruit;Price\nApple;1.20\nMango;2.50\n").units
    assert units[0].text == "| Fruit | Price |\n| --- | --- |\n| Apple | 1.20 |\n| Mango | 2.50 |"


def test_an_epub_is_read_by_chapter_in_reading_order(tmp_path):
    data = make_epub("A Tale", [("Chapter One", "It was the best of times."), ("Chapter Two", "The end came.")])
    units = load_bytes(tmp_path, "tale.epub", data).units
    assert [(u.title, u.extra["chapter"]) for u in units] == [("A Tale", "Chapter One"), ("A Tale", "Chapter Two")]
    assert "It was the best of times." in units[0].text


def test_an_email_gives_its_subject_body_sender_and_date_and_counts_its_attachments(tmp_path):
    loaded = load_bytes(tmp_path, "note.eml", make_eml("Harvest dates", "We pick on the 9th.", attachment=b"\x00"))
    [unit] = loaded.units
    assert unit.title == "Harvest dates" and unit.text.strip() == "We pick on the 9th."
    assert unit.extra["from"] == "Ada Lovelace <ada@example.org>" and "2026" in unit.extra["date"]
    assert loaded.warnings == ["1 attachment(s) not read: save them and ingest them as files"]


def test_an_rtf_file_gives_its_text(tmp_path):
    [unit] = load_bytes(tmp_path, "memo.rtf", make_rtf("Quarterly figures\nRevenue rose.")).units
    assert "Quarterly figures" in unit.text and "Revenue rose." in unit.text and "rtf1" not in unit.text


def zip_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("bomb.docx", zip_of({"word/document.xml": b"\x00" * (4 << 20)}), "a ZIP bomb?"),
        ("locked.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "password-protected or old binary"),
        ("broken.pptx", b"PK\x03\x04 not really a zip", "damaged ZIP container"),
        ("random.xlsx", bytes(range(256)) * 8, "damaged ZIP container"),
        ("empty.docx", zip_of({"hello.txt": b"hi"}), "not a readable Word file"),
        ("chapterless.epub", zip_of({"mimetype": b"application/epub+zip"}), "not a readable EPUB"),
        ("fake.rtf", b"just text", "not an RTF file"),
        ("binary.csv", b"\x00\x01\x02", "binary file"),
    ],
)
def test_bad_office_files_are_refused_with_one_reason(tmp_path, name, data, reason):
    with pytest.raises(LoadError, match=reason.replace("?", r"\?")):
        load_bytes(tmp_path, name, data)


def test_a_container_that_unpacks_past_the_limit_is_refused(tmp_path, monkeypatch):
    import rag.formats.archives as archives

    monkeypatch.setattr(archives, "MAX_UNZIPPED", 1000)
    with pytest.raises(LoadError, match="unpacks to .* MiB; at most 0 MiB are read"):
        load_bytes(tmp_path, "big.docx", make_docx([("A heading", ["Some text " * 200])]))


def test_a_word_file_with_macros_is_read_as_text_and_nothing_runs(tmp_path):
    data = make_docx([("Memo", ["Plain words."])])
    with zipfile.ZipFile(io.BytesIO(data)) as original:
        entries = {i.filename: original.read(i) for i in original.infolist()}
    entries["word/vbaProject.bin"] = b'Attribute VB_Name = "AutoOpen"\nShell "rm -rf /"'
    [unit] = load_bytes(tmp_path, "macro.docx", zip_of(entries)).units
    assert unit.text == "Memo\nPlain words."


@pytest.mark.slow
def test_a_folder_of_fifty_mixed_office_files_ingests_with_every_files_text_findable(tmp_path, settings):
    folder = tmp_path / "office"
    folder.mkdir()
    makers = [
        lambda w: ("docx", make_docx([("Summary", [f"The codeword is {w}."])])),
        lambda w: ("pptx", make_pptx([("Slide", f"The codeword is {w}.")])),
        lambda w: ("xlsx", make_xlsx({"Data": [["key", "value"], ["codeword", w]]})),
        lambda w: ("csv", f"key,value\ncodeword,{w}\n".encode()),
        lambda w: ("epub", make_epub("Book", [("One", f"The codeword is {w}.")])),
        lambda w: ("eml", make_eml("Codes", f"The codeword is {w}.")),
        lambda w: ("rtf", make_rtf(f"The codeword is {w}.")),
        lambda w: ("pdf", make_pdf_with_table([["key", "value"], ["codeword", w]], "Codes.", "End.")),
    ]
    words = [f"zq{n:02d}{chr(97 + n % 26)}x" for n in range(50)]
    for n, word in enumerate(words):
        suffix, data = makers[n % len(makers)](word)
        (folder / f"file{n:02d}.{suffix}").write_bytes(data)
    report = ingest([str(folder)], settings, progress=False)
    assert report.files_read == 50 and not report.failed, report.failed
    coll = Collection("default", settings.store)
    try:
        texts = {p.source.rsplit("/", 1)[-1]: p.indexed_text for p in coll.passages()}
    finally:
        coll.close()
    for n, word in enumerate(words):
        name = next(k for k in texts if k.startswith(f"file{n:02d}."))
        assert word in texts[name], (name, texts[name])


def test_citations_name_the_slide_sheet_or_section(tmp_path, settings):
    from rag.answer import format_passage
    from retrievers.passages import Passage

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "book.xlsx").write_bytes(make_xlsx({"Prices": PRICES}))
    ingest([str(folder)], settings, progress=False)
    coll = Collection("default", settings.store)
    try:
        [passage] = list(coll.passages())
    finally:
        coll.close()
    assert passage.location == "sheet Prices, rows 2-3"
    assert 'location="sheet Prices, rows 2-3"' in format_passage(1, passage).splitlines()[0]
    assert Passage("x", "text").location == "" and json.dumps(passage.metadata())


def test_an_html_pages_tables_become_markdown_tables_and_leave_its_text(tmp_path):
    page = (
        "<html><head><title>Fruit</title></head><body><p>Prices today.</p><table><tr><th>Fruit</th><th>Price"
        "</th></tr><tr><td><b>Apple</b></td><td>1.20</td></tr><tr><td>Mango | ripe</td><td>2.50</td></tr></table>"
        "<table><tr><td>layout</td><td>cells</td></tr></table><p>Prices change daily.</p></body></html>"
    )
    body, table = load_bytes(tmp_path, "fruit.html", page.encode()).units
    assert body.text == "Prices today.\n\nlayout cells\n\nPrices change daily." and not body.whole
    assert table.whole and table.title == "Fruit" and table.extra == {"rows": "2-3"}
    assert table.text == "| Fruit | Price |\n| --- | --- |\n| Apple | 1.20 |\n| Mango \\| ripe | 2.50 |"


def test_an_rtf_file_past_the_size_it_can_read_quickly_is_refused(tmp_path, monkeypatch):
    import rag.formats.rtf as rtf

    monkeypatch.setattr(rtf, "MAX_RTF_BYTES", 100)
    with pytest.raises(LoadError, match="at most 0 MiB are read: save it as .docx or .txt"):
        load_bytes(tmp_path, "big.rtf", make_rtf("word " * 100))


def test_a_ruled_pdf_table_becomes_a_markdown_table_and_leaves_the_page_text(tmp_path):
    from .documents import make_pdf_with_table

    data = make_pdf_with_table(PRICES, "Prices are per kilogram.", "Prices change daily.")
    text, table = load_bytes(tmp_path, "prices.pdf", data).units
    assert text.extra == {"page": 1} and "per kilogram" in text.text and "daily" in text.text
    assert "Apple" not in text.text  # the cells are in the table, not run together in the text
    assert table.whole and table.title == "Price list" and table.extra == {"page": 1, "rows": "2-3"}
    assert table.text == (
        "| Fruit | Price | Origin |\n| --- | --- | --- |\n| Apple | 1.20 | Kent |\n| Mango \\| ripe | 2.50 | Goa |"
    )


def test_a_long_pdf_table_is_cut_with_its_header_repeated_and_an_unruled_one_stays_text(tmp_path):
    from .documents import make_pdf_with_table

    rows = [["Name", "Notes"]] + [[f"Item {i}", f"note number {i} about the item"] for i in range(40)]
    units = load_bytes(tmp_path, "long.pdf", make_pdf_with_table(rows, "Inventory.", "End.")).units
    tables = [u for u in units if u.whole]
    assert len(tables) > 1 and all(u.text.startswith("| Name | Notes |\n| --- | --- |") for u in tables)
    assert all(len(u.text.split()) <= TABLE_WORDS + 10 for u in tables)
    plain = load_bytes(tmp_path, "plain.pdf", make_pdf_with_table(PRICES, "Before.", "After.", ruled=False)).units
    assert len(plain) == 1 and not plain[0].whole and "Apple" in plain[0].text


def test_a_pdf_tables_are_looked_for_on_at_most_max_pages(tmp_path, monkeypatch):
    from rag.formats import pdf_tables

    from .documents import make_pdf_with_table

    monkeypatch.setattr(pdf_tables, "MAX_PAGES", 2)
    parsed = load_bytes(tmp_path, "many.pdf", make_pdf_with_table(PRICES, "Before.", "After.", pages=3))
    pages = [(u.extra["page"], u.whole) for u in parsed.units]
    assert pages == [(1, False), (1, True), (2, False), (2, True), (3, False)]
    assert any("after the first 2" in w for w in parsed.warnings)
