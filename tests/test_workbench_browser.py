"""The review workbench in real headless chromium (Playwright) against the running uvicorn server: the list and
its filter, keyboard navigation, an edit made by selecting words in the article, kept across a reload, then
promoted to the gold of a copy of the seed suite, which `evaluate_suite` then scores.

Screenshots go to $LLM_EXTRACT_TEST_ARTIFACTS/workbench (default tests/artifacts/workbench) for people to look at.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from llm_extract.api import evaluate_suite
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.review.corrections import CorrectionStore
from llm_extract.review.server import make_app
from tests.test_review import CHROMIUM, CHROMIUM_FLAGS
from tests.test_workbench import DOC, SEEDS, copy_suite

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("LLM_EXTRACT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts")) / "workbench"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: `make test` installs it")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """The workbench on a free loopback port, in a thread; yields its URL, the run and the suite folder."""
    run, suite = copy_suite(tmp_path)
    app = make_app(run, CorrectionStore.beside(run), spec=load_schema(suite.schema), suite=suite, who="browser")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the workbench did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", run, suite.directory
    server.should_exit = True
    thread.join(timeout=10)


def incident_f1(suite_dir: Path, run: Path, out: Path) -> float:
    report = evaluate_suite(suite_dir, run=run, out_dir=out).report
    return next(document.incidents.f1 for document in report.documents if document.doc_id == DOC)


def test_review_edit_reload_and_promote_to_gold(served: tuple[str, Path, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # two cores shared with other tests: a reload may take a while

    url, run, suite_dir = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = incident_f1(suite_dir, run, tmp_path / "eval-before")
    text = (SEEDS / "docs" / f"{DOC}.txt").read_text()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        outside: list[str] = []
        page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(url) else None)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        # The list, a filter, keyboard navigation.
        page.goto(url + "/")
        expect(page.locator("#docs tbody tr[data-doc-id]")).to_have_count(5)
        page.screenshot(path=ARTIFACTS / "1-list.png", full_page=True)
        page.fill("input[name=q]", "beirut")
        page.press("input[name=q]", "Enter")
        expect(page.locator("#docs tbody tr[data-doc-id]")).to_have_count(1)
        page.screenshot(path=ARTIFACTS / "2-filtered.png", full_page=True)
        page.goto(url + "/")
        page.keyboard.press("j")
        page.keyboard.press("k")
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/doc/{DOC}")

        # Edit the town of record 1 by selecting "al-Asad" in the article.
        page.locator('[data-record="0"] tr[data-path="location.town"] button[data-action="edit"]').click()
        expect(page.locator("#editor")).to_be_visible()
        page.evaluate(
            """(word) => {
              const article = document.getElementById("article");
              const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
              for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const at = node.data.indexOf(word);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at); range.setEnd(node, at + word.length + 1);  // a trailing space, trimmed
                getSelection().removeAllRanges(); getSelection().addRange(range);
                article.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
                return;
              }
              throw new Error("word not in the article");
            }""",
            "al-Asad",
        )
        expect(page.locator("#editor-input input")).to_have_value("al-Asad")
        start = text.index("al-Asad")
        expect(page.locator("#editor-hint")).to_have_text(f"picked characters {start}–{start + 7} of the article")
        page.screenshot(path=ARTIFACTS / "3-picked.png", full_page=True)
        with page.expect_response(lambda response: response.url.endswith("/api/decisions")) as answer:
            page.click("#editor button[type=submit]")
        assert answer.value.status == 200, answer.value.text()
        change = page.locator('[data-record="0"] tr[data-path="location.town"]')
        expect(change.locator("ins")).to_have_text("al-Asad")

        # Kept across a reload; the picked words are highlighted as the town.
        page.reload()
        expect(change.locator("del")).to_have_text("western Iraq")
        expect(change.locator("ins")).to_have_text("al-Asad")
        expect(page.locator('#article mark[title="Location · town"]').first).to_have_text("al-Asad")
        with page.expect_response(lambda response: response.url.endswith("/api/decisions")) as answer:
            page.click('[data-record="0"] button[data-action="accept"]')
        assert answer.value.status == 200, answer.value.text()
        expect(page.locator('[data-record="0"] .badge.accept')).to_have_text("accepted")

        # Promote: the document has gold already, so the page asks before replacing it.
        page.on("dialog", lambda dialog: dialog.accept())
        page.click('button[data-action="gold"]')
        expect(page.locator("#status")).to_contain_text(f"replaced: {DOC}")
        page.reload()
        page.screenshot(path=ARTIFACTS / "4-promoted.png", full_page=True)
        expect(page.locator('[data-record="0"] .verdict')).to_have_text(f"matches gold {DOC}-1")
        browser.close()
    assert errors == [] and outside == []
    after = incident_f1(suite_dir, run, tmp_path / "eval-after")
    assert before < 1.0 and after == 1.0  # the reviewed record is now the gold it is scored against
    assert CorrectionStore.beside(run).decisions(DOC)[0].who == "browser"
