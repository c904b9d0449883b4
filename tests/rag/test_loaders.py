import io
import json

import pytest

from rag.documents.loaders import Input, LoadError, decode_text, discover, load
from tests.conftest import DOCS, write_docs


def make_pdf(pages: list[str], password: str | None = None) -> bytes:
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setTitle("Test document")
    for text in pages:
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    if password is None:
        return buffer.getvalue()
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def load_file(path):
    return load(Input(source=str(path), path=path))


def test_each_file_type(tmp_path):
    folder = write_docs(
        tmp_path / "d",
        {
            **DOCS,
            "report.pdf": make_pdf(["Quarterly revenue grew.", "Costs fell."]),
            "list.json": json.dumps([{"_id": "d1", "title": "A", "text": "alpha"}]),
        },
    )
    by_name = {p.name: load_file(p) for p in sorted(folder.iterdir())}
    assert by_name["paris.txt"].units[0].title == "paris"
    assert by_name["rivers.md"].units[0].title == "Rivers of the world"
    html = by_name["cats.html"].units[0]
    assert html.title == "Domestic cats" and "carnivorous mammal" in html.text
    assert "secret" not in html.text and "color" not in html.text
    space = by_name["space.jsonl"]
    assert space.records and [u.extra["doc_id"] for u in space.units] == ["moon", "mars"]
    assert space.units[0].title == "Moon"
    pdf = by_name["report.pdf"]
    assert [u.extra["page"] for u in pdf.units] == [1, 2] and "revenue" in pdf.units[0].text
    assert pdf.units[0].title == "Test document"
    assert by_name["list.json"].units[0].extra == {"doc_id": "d1"}


def test_an_unchanged_file_is_not_parsed_again(tmp_path):
    path = write_docs(tmp_path, {"a.txt": "hello"}) / "a.txt"
    first = load_file(path)
    assert load(Input(str(path), path), known=lambda sig: sig == first.signature) is None


BAD = {
    "empty.txt": (b"", "empty file"),
    "blank.md": (b"  \n\n ", "no text"),
    "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    "latin1.txt": ("café".encode("latin-1"), "not UTF-8 text"),
    "zero.pdf": (b"", "empty file"),
    "corrupt.pdf": (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
        "not a readable PDF",
    ),
    "junk.pdf": (b"this is not a pdf at all", "not a readable PDF"),
    "bad.json": (b'{"id": 1, "text": ', "invalid JSON at line 1"),
    "numbers.json": (b"42", "expected a list of records"),
    "fields.jsonl": (b'{"id": 1, "body2": "x"}\n', 'no valid records; line 1: no "text" field'),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_files_fail_with_a_reason(tmp_path, name):
    content, reason = BAD[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError, match=reason):
        load_file(path)


def test_encrypted_and_truncated_pdfs(tmp_path):
    (tmp_path / "secret.pdf").write_bytes(make_pdf(["classified"], password="pw"))
    with pytest.raises(LoadError, match="encrypted PDF"):
        load_file(tmp_path / "secret.pdf")
    whole = make_pdf(["some text here"] * 3)
    (tmp_path / "cut.pdf").write_bytes(whole[: len(whole) // 3])
    with pytest.raises(LoadError):
        load_file(tmp_path / "cut.pdf")


def test_utf16_with_bom_decodes_and_malformed_jsonl_lines_are_reported():
    assert decode_text("héllo".encode("utf-16")) == "héllo"
    with pytest.raises(LoadError, match="invalid UTF-16"):
        decode_text("hi".encode("utf-16") + b"\x00\xd8")  # a lone surrogate


def test_jsonl_keeps_good_lines_and_warns_about_bad_ones(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"id": "a", "text": "good one"}\n{broken\n\n{"id": "b"}\n{"id": "c", "text": "good two"}\n')
    loaded = load_file(path)
    assert [u.text for u in loaded.units] == ["good one", "good two"]
    assert loaded.warnings == [
        "2 record(s) skipped: line 2: invalid JSON (Expecting property name enclosed in "
        'double quotes); line 4: no "text" field'
    ]


def test_discover_walks_folders_and_reports_what_it_cannot_use(tmp_path):
    folder = write_docs(
        tmp_path / "d",
        {"a.txt": "x", "sub/b.md": "y", ".hidden/c.txt": "z", "img.bmp": "p", "deep/er/still/d.html": "<p>w</p>"},
    )
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # a symlink loop is not followed
    (tmp_path / "notes.xyz").write_text("?")
    found = discover(
        [str(folder), str(folder / "a.txt"), str(tmp_path / "missing"), str(tmp_path / "notes.xyz"), "wiki-vital"]
    )
    names = [i.path.name if i.path else i.source for i in found.inputs]
    assert names == ["a.txt", "d.html", "b.md", "wiki-vital"]
    assert found.unsupported == 1
    reasons = dict(found.failures)
    assert reasons[str(tmp_path / "missing")].startswith("no such file or folder")
    assert "unsupported file type '.xyz'" in reasons[str(tmp_path / "notes.xyz")]


def test_builtin_corpus_is_one_passage_per_article_as_nq_vital_defines():
    loaded = load(Input("wiki-vital"))
    assert loaded.records and len(loaded.units) == 10033
    unit = next(u for u in loaded.units if u.title == "Albert Einstein")
    assert unit.text.startswith("Albert Einstein. ") and unit.extra["doc_id"] == "Albert Einstein"
