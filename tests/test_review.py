"""The review page of the recorded seed run, checked as data and in a real headless browser (Debian's chromium).

The run replays the real embedded model's answers from the cassette; the page is written by the CLI.
A screenshot is kept in tests/artifacts/ (or $LLM_EXTRACT_TEST_ARTIFACTS) for people to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.api import extract_batch
from llm_extract.cli import app
from llm_extract.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "evals" / "seeds" / "docs"
ARTIFACTS = Path(os.environ.get("LLM_EXTRACT_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine notes advise: no sandbox as root, and no background connections on a closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
pytestmark = pytest.mark.cassette


@pytest.fixture
def page_path(replay_settings: Settings, tmp_path: Path) -> Path:
    run = tmp_path / "seeds.jsonl"
    extract_batch([SEEDS], run, replay_settings)
    output = tmp_path / "review.html"
    result = CliRunner().invoke(app, ["review", str(run), "-o", str(output), "--suite", "seeds"])
    assert result.exit_code == 0, result.output
    assert "5 documents" in result.output
    return output


def embedded_data(html: str) -> list[dict]:
    match = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', html, re.S)
    assert match is not None
    return json.loads(match.group(1))


def test_page_is_self_contained_and_its_spans_are_the_grounded_values(page_path: Path) -> None:
    html = page_path.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "the page must not load anything"
    data = embedded_data(html)
    assert sorted(d["doc_id"] for d in data) == sorted(p.stem for p in SEEDS.glob("*.txt"))
    for document in data:
        text = (SEEDS / f"{document['doc_id']}.txt").read_text()
        assert document["text"] == text
        assert document["spans"], document["doc_id"]
        for span in document["spans"]:
            assert 0 <= span["start"] < span["end"] <= len(text)
            if span["status"] == "exact":
                assert text[span["start"] : span["end"]] == span["quote"].strip()
    assert "matches gold 000-1" in html and "missed: gold" in html  # gold differences are marked
    assert "is not in the article" in html  # an ungrounded value is flagged


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: `make test` installs it")
def test_page_renders_in_chromium_with_every_highlight_where_its_offsets_say(page_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_path.as_uri())
        checked = page.evaluate(
            """() => {
              const data = JSON.parse(document.getElementById("review-data").textContent);
              const problems = []; let spans = 0;
              data.forEach((doc, i) => {
                const section = document.getElementById("doc-" + i);
                const article = section.querySelector("[data-article]");
                const chars = Array.from(doc.text);  // offsets count code points, as Python does
                if (article.textContent !== doc.text) problems.push(doc.doc_id + ": article text differs");
                doc.spans.forEach(span => {
                  spans += 1;
                  const marks = section.querySelectorAll('mark[data-spans~="' + span.id + '"]');
                  const shown = Array.from(marks).map(m => m.textContent).join("");
                  const expected = chars.slice(span.start, span.end).join("");
                  if (shown !== expected) problems.push(doc.doc_id + " " + span.path + ": " + JSON.stringify(shown));
                  const box = marks.length ? marks[0].getBoundingClientRect() : null;
                  if (!box || box.width === 0 || box.height === 0) problems.push(span.path + ": not rendered");
                });
              });
              return {problems, spans, marks: document.querySelectorAll("mark").length};
            }"""
        )
        assert checked["problems"] == []
        assert checked["spans"] > 20 and checked["marks"] >= checked["spans"] // 2
        # Hovering a card's value outlines its passage in the article.
        row = page.locator("section#doc-0 tr[data-span]").first
        span_id = row.get_attribute("data-span")
        row.hover()
        assert page.locator(f'section#doc-0 mark.active[data-spans~="{span_id}"]').count() >= 1
        page.screenshot(path=str(ARTIFACTS / "review_seeds.png"), full_page=False)
        browser.close()
    assert all(url.startswith("file://") for url in requests), requests
    assert (ARTIFACTS / "review_seeds.png").stat().st_size > 10_000


def test_review_of_a_stored_muc4_run_marks_templates_against_gold(tmp_path: Path) -> None:
    """A run stored before grounding existed is grounded from its texts; the GTT scorer's verdicts are shown."""
    run = ROOT / "evals" / "muc4" / "baseline_run.jsonl"
    output = tmp_path / "muc4.html"
    result = CliRunner().invoke(app, ["review", str(run), "-o", str(output), "--suite", "muc4"])
    assert result.exit_code == 0, result.output
    html = output.read_text()
    data = {d["doc_id"]: d for d in embedded_data(html)}
    assert len(data) == 200
    document = data["TST1-MUC3-0002"]
    for span in document["spans"]:
        assert document["text"][span["start"] : span["end"]].lower() == span["quote"].strip().lower() or (
            span["status"] != "exact"
        )
    assert "matches gold template 1" in html and "missed: gold template" in html and "is not in the article" in html


ATTACK = (
    "Officials quoted the post <!--<script>alert(1)</script> and </SCRIPT > word for word.\n"
    "Two drones struck al-Asad airbase in western Iraq on Wednesday."
)


def attack_page(tmp_path: Path) -> Path:
    """The review of an article whose text holds `<!--<script>` and `</script>` (they were embedded raw)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "attack.txt").write_text(ATTACK)
    run = tmp_path / "run.jsonl"
    incident = {"location": {"site": "al-Asad airbase", "town": None, "region": "western Iraq", "country": "IQ"}}
    run.write_text(json.dumps({"doc_id": "attack", "status": "ok", "incidents": [incident]}) + "\n")
    output = tmp_path / "attack.html"
    result = CliRunner().invoke(app, ["review", str(run), "-o", str(output), "--docs", str(docs)])
    assert result.exit_code == 0, result.output
    return output


def test_article_markup_cannot_end_the_embedded_json_block(tmp_path: Path) -> None:
    html = attack_page(tmp_path).read_text()
    opening = '<script type="application/json" id="review-data">'
    start = html.index(opening) + len(opening)
    end = html.lower().index("</script", start)  # where an HTML parser ends the block
    block = html[start:end]
    assert not re.search(r"<!--|<script|</script", block, re.IGNORECASE), block
    assert json.loads(block)[0]["text"] == ATTACK
    assert html[end:].startswith("</script>\n<script>\n  // Hovering")  # the page's own script comes next, whole


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: `make test` installs it")
def test_page_with_script_markup_in_an_article_still_runs_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    path = attack_page(tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(path.as_uri())
        data = page.evaluate('() => JSON.parse(document.getElementById("review-data").textContent)')
        assert data[0]["text"] == ATTACK
        assert page.locator("section#doc-0 [data-article]").text_content() == ATTACK
        row = page.locator("section#doc-0 tr[data-span]").first
        span_id = row.get_attribute("data-span")
        row.hover()  # the page's script outlines the value's passage: it was swallowed into the JSON block
        assert page.locator(f'section#doc-0 mark.active[data-spans~="{span_id}"]').count() >= 1
        browser.close()
    assert dialogs == []
