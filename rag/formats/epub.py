"""E-books (.epub): the chapters in reading order (the package's spine), each read as an HTML page, with the
chapter's title as `chapter` metadata. The container's XML is parsed with defusedxml (no entity expansion)."""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from .archives import check_zip
from .base import NO_LIMITS, LoadError, Parsed, ReadLimits, Unit, decode_text, one_line
from .html import html_units

_NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_PAGES = ("application/xhtml+xml", "text/html")


def read_epub(data: bytes, path: Path, limits: ReadLimits = NO_LIMITS) -> Parsed:
    archive = check_zip(data, ".epub")
    try:
        container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
        rootfile = container.find("c:rootfiles/c:rootfile", _NS)
        if rootfile is None or not rootfile.get("full-path"):
            raise LoadError("not a readable EPUB (no package document in META-INF/container.xml)")
        opf_path = rootfile.get("full-path")
        package = ElementTree.fromstring(archive.read(opf_path))
        book = one_line(package.findtext("opf:metadata/dc:title", default="", namespaces=_NS)) or path.stem
        manifest = {item.get("id"): item for item in package.iterfind("opf:manifest/opf:item", _NS)}
        units = []
        for ref in package.iterfind("opf:spine/opf:itemref", _NS):
            item = manifest.get(ref.get("idref"))
            if item is None or item.get("media-type") not in _PAGES or not item.get("href"):
                continue
            name = posixpath.normpath(posixpath.join(posixpath.dirname(opf_path), item.get("href")))
            page = html_units(decode_text(archive.read(name)), "")
            chapter = {"chapter": page[0].title} if page[0].title else {}
            units += [Unit(book, u.text, {**chapter, **u.extra}, whole=u.whole) for u in page if u.text.strip()]
        return Parsed(units)
    except (
        KeyError,
        zipfile.BadZipFile,
        ElementTree.ParseError,
        DefusedXmlException,
        ValueError,
        OSError,
        EOFError,
    ) as exc:
        raise LoadError(f"not a readable EPUB ({type(exc).__name__}: {str(exc)[:120]})") from None
