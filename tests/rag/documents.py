"""Office files, e-books and e-mails made by the tests with the same libraries users' files come from."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage


def make_docx(sections: list[tuple[str, list[str]]], table: list[list[str]] | None = None, title: str = "") -> bytes:
    """A Word file: each (heading, paragraphs) section, then an optional table under the last heading."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pptx(slides: list[tuple[str, str]], table: list[list[str]] | None = None, notes: str = "") -> bytes:
    """A deck of (title, body) slides; the table and the notes go on the last slide."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    if table:
        shape = slide.shapes.add_table(len(table), len(table[0]), Inches(1), Inches(4), Inches(6), Inches(2))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                shape.table.cell(r, c).text = value
    if notes:
        slide.notes_slide.notes_text_frame.text = notes
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def make_epub(title: str, chapters: list[tuple[str, str]]) -> bytes:
    """A minimal EPUB 3: a package document with the chapters (title, paragraph) in its spine."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        book.writestr("mimetype", "application/epub+zip")
        book.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile '
            'full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
            "</container>",
        )
        items = "".join(
            f'<item id="c{i}" href="text/c{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(len(chapters))
        )
        spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
        book.writestr(
            "OEBPS/content.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" '
            'version="3.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{title}</dc:title></metadata><manifest>{items}</manifest>"
            f"<spine>{spine}</spine></package>",
        )
        for i, (heading, text) in enumerate(chapters):
            book.writestr(
                f"OEBPS/text/c{i}.xhtml",
                f"<html><head><title>{heading}</title></head><body><h1>{heading}</h1><p>{text}</p></body></html>",
            )
    return out.getvalue()


def make_eml(subject: str, body: str, attachment: bytes | None = None) -> bytes:
    message = EmailMessage()
    message["From"] = "Ada Lovelace <ada@example.org>"
    message["To"] = "team@example.org"
    message["Subject"] = subject
    message["Date"] = "Mon, 07 Dec 2026 09:00:00 +0000"
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="data.bin")
    return message.as_bytes()


def make_rtf(text: str) -> bytes:
    return ("{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}}\\f0\\fs24 " + text.replace("\n", "\\par ") + "}").encode()


def scan_image(text: str, size: tuple[int, int] = (1700, 1100)):
    """A page of `text` as a scanner would give it: black text drawn on white, 200 dpi, one line a row."""
    from PIL import Image, ImageDraw, ImageFont

    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=36)
    for i, line in enumerate(text.splitlines()):
        draw.text((100, 100 + 60 * i), line, fill=0, font=font)
    return page


def make_scanned_pdf(pages: list[str]) -> bytes:
    """A PDF of page images only, no text layer: what a scanner makes."""
    images = [scan_image(text) for text in pages]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=200)
    return out.getvalue()


def make_image(text: str, fmt: str = "PNG", frames: list[str] | None = None) -> bytes:
    out = io.BytesIO()
    first = scan_image(text)
    rest = [scan_image(t) for t in frames or []]
    first.save(out, format=fmt, save_all=bool(rest), append_images=rest)
    return out.getvalue()


def make_pdf_with_table(
    rows: list[list[str]], before: str, after: str, *, title: str = "Price list", ruled: bool = True, pages: int = 1
) -> bytes:
    """A PDF whose every page has a paragraph, a table of `rows` (a grid of ruled lines unless `ruled` is
    False) and another paragraph, as word processors write them."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title=title)
    story: list = []
    for _ in range(pages):
        table = Table(rows, repeatRows=1)  # a table running onto the next page repeats its header there
        if ruled:
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.black)]))
        story += [Paragraph(before, styles["Normal"]), table, Paragraph(after, styles["Normal"]), PageBreak()]
    doc.build(story)
    return buffer.getvalue()
