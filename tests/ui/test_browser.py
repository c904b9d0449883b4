"""End to end in a real browser: headless Chromium asks a question and sees the streamed, cited answer.

Skipped where Debian's `chromium` and `chromium-driver` are absent; `.ci/run` installs them.
"""

import os
import shutil
from pathlib import Path

import pytest

from rag.answer import Engine
from rag.retrieval import open_collection, open_retriever
from tests.rag.fakes import ScriptedLLM

from .servers import running

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ANSWER = "Mars is called the Red Planet because of iron oxide dust [1]"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)), reason="needs Debian's chromium and chromium-driver"
    ),
]


def factory(settings, name):
    return Engine(open_retriever(settings, open_collection(settings, name), "bm25"), ScriptedLLM([ANSWER]))


@pytest.fixture
def server(ingested):
    from ui import create_api
    from ui.app import mount_ui
    from ui.backend import Backend
    from ui.engines import Engines

    engines = Engines(ingested, factory)
    with running(mount_ui(create_api(ingested, engines=engines), ingested, Backend(ingested, engines=engines))) as url:
        yield f"{url}/"


@pytest.fixture
def browser():
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

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
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_a_question_gets_a_streamed_cited_answer(server, browser, tmp_path):
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server)
    wait = WebDriverWait(browser, 60)
    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#question textarea")))
    box.send_keys("Why is Mars red?", Keys.ENTER)
    wait.until(ec.text_to_be_present_in_element((By.ID, "chat"), "iron oxide dust"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "sources"), "Mars"))
    assert "score" in browser.find_element(By.ID, "sources").text
    shot = Path(os.environ.get("RAG_SCREENSHOT", tmp_path / "chat.png"))
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:4] == b"\x89PNG"

    # Offline: every request the page made went to our server (or stayed inside the browser).
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    outside = [u for u in urls if not u.startswith((server, "data:", "blob:"))]
    assert urls and not outside, outside
