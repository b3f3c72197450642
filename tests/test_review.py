"""The review page of the recorded seed run, checked as data and in a real headless browser (Debian's chromium).

The run replays the real embedded model's answers from the cassette; the page is written by the CLI.
A screenshot is kept in tests/artifacts/ (or $LLM_EXTRACT_TEST_ARTIFACTS) for people to look at.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from html import unescape as html_unescape
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llm_extract.api import extract_batch
from llm_extract.cli import app
from llm_extract.core.config import Settings
from llm_extract.review.page import answer_view, flag_base_rate, flag_ranks, validation_problems
from llm_extract.scoring.suite import load_suite

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
    run = ROOT / "evals" / "muc4" / "muc4_v3_run.jsonl"  # stored before the stages: invalid lines, no grounding
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


# ---- triage (issue 17): ranked flags, invalid answers, labels and text, 800 px, an index -------------------------

MUC4_RUN = ROOT / "evals" / "muc4-incidents" / "reference_run.jsonl"
REPR = re.compile(r"\[\s*'|\bTrue\b|\bFalse\b|\bNone\b|\{'")  # what a Python repr of a list, bool, None or dict shows


@pytest.fixture(scope="module")
def muc4_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The review of the stored muc4-incidents reference run (114 ok, 86 invalid) against its gold."""
    output = tmp_path_factory.mktemp("muc4") / "muc4-incidents.html"
    result = CliRunner().invoke(app, ["review", str(MUC4_RUN), "-o", str(output), "--suite", "muc4-incidents"])
    assert result.exit_code == 0, result.output
    return output


def load_bench_flags() -> Any:
    spec = importlib.util.spec_from_file_location("bench_flags", ROOT / "bench" / "flags.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_flag_ranks_are_what_bench_flags_measures(tmp_path: Path) -> None:
    """The page's ranks are the bench's figures on the stored runs, not numbers typed in (nor stale ones)."""
    bench = load_bench_flags()
    out, ranks = tmp_path / "flags.json", tmp_path / "ranks.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["flags.py", "--out", str(out), "--ranks", str(ranks)])
        bench.main()
    measured = json.loads(ranks.read_text())
    assert measured["kinds"] == flag_ranks()
    assert measured["every value"] == flag_base_rate()
    for kind, figures in measured["kinds"].items():
        assert figures["scored"] + figures["unscored"] == figures["flagged"], kind
        assert figures["precision"] == round(figures["errors"] / figures["scored"], 4), kind
    assert {run["run"] for run in json.loads(out.read_text())["runs"]} == set(measured["runs"])


def test_a_flagged_set_element_is_judged_against_every_gold_alias() -> None:
    bench = load_bench_flags()
    suite = load_suite("seeds")
    incident = {"perpetrators": [{"name": "Hamas", "attribution": "claimed"}, {"name": "the Taliban"}]}
    gold = [["IRI", "Islamic Resistance in Iraq"], {"optional": ["Hamas"]}]
    scored = {"spurious": False, "fields": [{"field": "perpetrators[].name", "gold": gold, "verdict": "partial"}]}
    assert bench.judge({"field": "perpetrators[0].name"}, incident, scored, suite) == "right"
    assert bench.judge({"field": "perpetrators[1].name"}, incident, scored, suite) == "error"
    assert bench.judge({"field": "evidence[0]"}, incident, scored, suite) == "unscored"  # not a scored field
    assert bench.judge({"field": "evidence[0]"}, incident, {"spurious": True, "fields": []}, suite) == "error"
    assert bench.judge({"field": "location.town"}, incident, None, suite) == "unscored"


def test_flags_come_most_often_right_first_each_with_its_measured_precision(muc4_page: Path) -> None:
    html = muc4_page.read_text()
    lists = re.findall(r'<ul class="flags">(.*?)</ul>', html, re.S)
    ranked_lists = [re.findall(r'data-precision="([0-9.]*)"', items) for items in lists]
    ranked_lists = [[float(p) for p in found] for found in ranked_lists if found]
    assert sum(len(found) for found in ranked_lists) > 100
    assert all(found == sorted(found, reverse=True) for found in ranked_lists)
    assert len({p for found in ranked_lists for p in found}) >= 3  # kinds that differ are told apart
    for kind, figures in flag_ranks().items():
        if figures["scored"]:
            sentence = f"marks a real error {round(figures['precision'] * 10)} times in 10 on the suites"
            assert f'data-kind="{kind}"' not in html or sentence in html, kind


def test_an_invalid_documents_last_answer_is_a_card_with_its_bad_fields_marked(muc4_page: Path) -> None:
    html = muc4_page.read_text()
    section = html[html.index('data-doc-id="TST1-MUC3-0002"') : html.index('data-doc-id="TST1-MUC3-0003"')]
    assert "The model's last answer, rejected" in section and 'data-answer-card="0"' in section
    bad = re.findall(r'<tr class="bad"><td class="path" title="([^"]+)">([^<]+)</td>', section)
    assert bad == [("location.country", "Location · country")]
    assert "is not an ISO 3166-1 alpha-2 country code" in section
    assert "Farabundo Marti National Liberation Front (FMLN)" in section  # the answer's values, rendered


def test_an_answer_that_is_not_json_or_names_a_whole_record_is_still_shown() -> None:
    broken = answer_view('{"incidents": [{"role": "main"', "failed validation:\n- (root): bad", "incidents")
    assert broken is not None and broken["raw"] == '{"incidents": [{"role": "main"'
    assert broken["note"].startswith("the answer is not JSON") and broken["problems"][0]["message"] == "bad"
    error = "failed validation:\n- incidents.0: Value error, these fillers do not occur\n- incidents[1].date.start: x"
    answer = answer_view(json.dumps({"incidents": [{"role": "main"}, {"date": {"start": "1990"}}]}), error, "incidents")
    assert answer is not None
    assert answer["cards"][0]["problems"] == ["Value error, these fillers do not occur"]
    assert [row["problems"] for row in answer["cards"][1]["rows"]] == [["x"]]
    assert answer_view(None, error, "incidents") is None
    assert validation_problems(error) == [("incidents[0]", "Value error, these fillers do not occur"),
                                          ("incidents[1].date.start", "x")]  # fmt: skip


def test_fields_read_as_labels_and_values_as_text(muc4_page: Path) -> None:
    html = muc4_page.read_text()
    labels = re.findall(r'<td class="path" title="[^"]*">([^<]*)</td>', html)
    values = re.findall(r'<td class="value">([^<]*)', html)
    assert len(labels) > 1000 and len(values) > 1000
    assert not [label for label in labels if "[" in label or ("_" in label.split(" · ")[-1] and "." in label)]
    assert "Perpetrator 1 · name" in labels and "Casualties · killed · min" in labels
    written = {leaf for line in MUC4_RUN.read_text().splitlines() for leaf in _strings(json.loads(line))}
    assert "None" in written  # the model wrote the word once (an injured.text): text, shown as it is
    assert not [value for value in values if REPR.search(value) and html_unescape(value) not in written]


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [leaf for child in children for leaf in _strings(child)]


def test_without_the_articles_the_pane_says_how_to_give_them(tmp_path: Path) -> None:
    output = tmp_path / "page.html"
    empty = tmp_path / "none"
    empty.mkdir()
    run = ROOT / "evals" / "seeds" / "reference_run.jsonl"
    result = CliRunner().invoke(app, ["review", str(run), "-o", str(output), "--docs", str(empty)])
    assert result.exit_code == 0, result.output
    panes = re.findall(r"<div class=\"article\" data-article>(.*?)</div>", output.read_text(), re.S)
    assert len(panes) == 5 and all("--docs PATH" in pane and "--suite NAME" in pane for pane in panes)


def test_an_index_lists_every_document_with_status_records_and_flags(muc4_page: Path) -> None:
    html = muc4_page.read_text()
    index = html[html.index('<nav class="index"') : html.index("</nav>")]
    rows = re.findall(r'<tr data-index-doc="([^"]+)"><td><a href="#(doc-\d+)">', index)
    sections = re.findall(r'<section class="doc" id="(doc-\d+)" data-doc-id="([^"]+)"', html)
    assert [(doc_id, anchor) for doc_id, anchor in rows] == [(doc_id, anchor) for anchor, doc_id in sections]
    assert len(rows) == 200
    assert index.count('class="badge invalid"') == 86 and "not in article" in index


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: `make test` installs it")
def test_at_800_px_nothing_overflows_its_card_and_low_precision_flags_can_be_hidden(muc4_page: Path) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 800, "height": 1000})
        page.goto(muc4_page.as_uri())
        overflowing = page.evaluate(
            """() => {
              const bad = [];
              document.querySelectorAll(".card, .card td, .card h3, .card li").forEach(el => {
                if (el.scrollWidth > el.clientWidth + 1) bad.push(el.tagName + ": " + el.textContent.slice(0, 50));
              });
              document.querySelectorAll(".card .g").forEach(badge => {
                const card = badge.closest(".card").getBoundingClientRect(), box = badge.getBoundingClientRect();
                if (box.width === 0 || box.left < card.left - 0.5 || box.right > card.right + 0.5)
                  bad.push("badge outside its card: " + badge.textContent);
              });
              return {bad, cells: document.querySelectorAll(".card td").length};
            }"""
        )
        assert overflowing["cells"] > 1000 and overflowing["bad"] == []
        page.locator('section[data-doc-id="TST1-MUC3-0024"]').scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "review_muc4_800px.png"))
        floor = 0.9
        precisions = page.eval_on_selector_all("li[data-precision]", "els => els.map(e => e.dataset.precision)")
        low = [float(p) for p in precisions if p and float(p) < floor]
        assert low, "the suites' runs raise flags below the floor"
        page.select_option("#flag-threshold", str(floor))
        hidden = page.eval_on_selector_all(
            "li[data-precision]", "els => els.filter(e => e.offsetParent === null).length"
        )
        assert hidden == len(low)
        page.select_option("#flag-threshold", "0")
        assert page.eval_on_selector_all("li[data-precision]", "els => els.filter(e => e.hidden).length") == 0
        page.click('nav.index a[href="#doc-1"]')
        assert page.evaluate("() => location.hash") == "#doc-1"
        browser.close()
