"""The review workbench through starlette's TestClient: the list and its filters, decisions kept in the
corrections store (never in the run), the CSRF token and Origin checks on writes, escaping, loopback by default.

The run is the seed suite's stored reference run (real model answers, grounded), copied with the suite to tmp_path.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import shutil
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from llm_extract.core.errors import LLMExtractError
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.review.corrections import CorrectionStore
from llm_extract.review.server import is_loopback, make_app, serve
from llm_extract.scoring.suite import Suite, load_suite

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "evals" / "seeds"
BASE = "http://127.0.0.1:8765"
DOC = "000_d4b2816009667b46"


def copy_suite(tmp_path: Path) -> tuple[Path, Suite]:
    """A copy of the seed suite (its gold may be rewritten) and of its stored reference run."""
    suite_dir = tmp_path / "seeds"
    shutil.copytree(SEEDS, suite_dir, ignore=shutil.ignore_patterns("second_labelling"))
    run = tmp_path / "run.jsonl"
    shutil.copy(SEEDS / "reference_run.jsonl", run)
    shutil.copy(SEEDS / "reference_run.manifest.json", tmp_path / "run.manifest.json")
    return run, load_suite(suite_dir)


@pytest.fixture
def bench(tmp_path: Path) -> tuple[TestClient, Path, Suite]:
    run, suite = copy_suite(tmp_path)
    app = make_app(run, CorrectionStore.beside(run), spec=load_schema(suite.schema), suite=suite, who="ana")
    return TestClient(app, base_url=BASE), run, suite


def write_headers(client: TestClient) -> dict[str, str]:
    return {"Origin": BASE, "X-CSRF-Token": client.app.state.bench.token}  # type: ignore[attr-defined]


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-doc-id="([^"]+)"', html)


def test_the_list_shows_every_document_with_status_flags_and_score(bench: tuple[TestClient, Path, Suite]) -> None:
    client, _, _ = bench
    html = client.get("/").text
    assert sorted(listed(html)) == sorted(p.stem for p in (SEEDS / "docs").glob("*.txt"))
    assert "5 documents: 5 ok, 0 invalid, 0 error" in html
    assert "<th>F1</th>" in html and html.count('<span class="badge ok">ok</span>') == 5


def test_filters_and_sort(bench: tuple[TestClient, Path, Suite]) -> None:
    client, _, _ = bench
    scores = client.app.state.bench.scores  # type: ignore[attr-defined]
    assert listed(client.get("/?sort=score").text) == sorted(scores, key=lambda d: (scores[d], d))
    assert listed(client.get("/?status=invalid").text) == []
    # Text search reads the articles; with a field, only that field's values.
    texts = {path.stem: path.read_text() for path in (SEEDS / "docs").glob("*.txt")}
    beirut = [doc_id for doc_id in scores if "BEIRUT" in texts[doc_id]]
    assert 0 < len(beirut) < len(scores) and listed(client.get("/?q=beirut").text) == beirut
    runs = [json.loads(line) for line in (SEEDS / "reference_run.jsonl").read_text().splitlines()]
    towns = [r["doc_id"] for r in runs if any("Iraq" in (i["location"]["town"] or "") for i in r["incidents"])]
    assert 0 < len(towns) < len(scores) and listed(client.get("/?field=location.town&q=iraq").text) == towns
    assert len(listed(client.get("/?q=iraq").text)) == len(scores)
    flagged = listed(client.get("/?flag=any").text)
    assert sorted(flagged + listed(client.get("/?flag=none").text)) == sorted(scores)
    assert listed(client.get("/?status=reviewed").text) == []


def test_an_edit_is_stored_with_who_and_before_and_shown_as_a_change(bench: tuple[TestClient, Path, Suite]) -> None:
    client, run, _ = bench
    before = hashlib.sha256(run.read_bytes()).hexdigest()
    text = (SEEDS / "docs" / f"{DOC}.txt").read_text()
    start = text.index("al-Asad")
    body = {"doc_id": DOC, "action": "edit", "record_index": 0, "path": "location.town", "value": "al-Asad",
            "start": start, "end": start + len("al-Asad")}  # fmt: skip
    answer = client.post("/api/decisions", json=body, headers=write_headers(client))
    assert answer.status_code == 200, answer.text
    (decision,) = CorrectionStore.beside(run).decisions(DOC)
    assert (decision.action, decision.path, decision.before, decision.after, decision.who) == (
        "edit", "location.town", "western Iraq", "al-Asad", "ana")  # fmt: skip
    assert (decision.start, decision.end) == (start, start + 7)
    page = client.get(f"/doc/{DOC}").text
    assert "<del>western Iraq</del> → <ins>al-Asad</ins>" in page
    assert listed(client.get("/?status=reviewed").text) == [DOC]
    assert hashlib.sha256(run.read_bytes()).hexdigest() == before, "the run file is never written"


def test_reject_add_and_note(bench: tuple[TestClient, Path, Suite]) -> None:
    client, run, _ = bench
    headers = write_headers(client)
    record = json.loads(run.read_text().splitlines()[0])["incidents"][0]
    assert client.post("/api/decisions", json={"doc_id": DOC, "action": "reject", "record_index": 0},
                       headers=headers).status_code == 200  # fmt: skip
    added = client.post("/api/decisions", json={"doc_id": DOC, "action": "add", "record": record}, headers=headers)
    assert added.status_code == 200, added.text
    note = client.post("/api/decisions", json={"doc_id": DOC, "action": "note", "note": "two attacks"}, headers=headers)
    assert note.status_code == 200
    page = client.get(f"/doc/{DOC}").text
    assert re.search(r'class="card reject" data-record="0"', page)
    assert re.search(r'class="card added" data-record="1"', page)
    assert "“two attacks”" in page
    assert [d.action for d in CorrectionStore.beside(run).decisions(DOC)] == ["reject", "add", "note"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"path": "sub_event_type", "value": "picnic"}, "would not fit schema incident_v1: sub_event_type"),
        ({"path": "location.nowhere.deep", "value": "x"}, "has no field 'location.nowhere.deep'"),
        ({"path": "location.town", "value": "al-Asad", "start": 0, "end": 7}, "characters 0-7 are not 'al-Asad'"),
    ],
)
def test_bad_edits_are_refused_naming_the_document(
    bench: tuple[TestClient, Path, Suite], body: dict, message: str
) -> None:
    client, run, _ = bench
    answer = client.post("/api/decisions", json={"doc_id": DOC, "action": "edit", "record_index": 0, **body},
                         headers=write_headers(client))  # fmt: skip
    assert answer.status_code == 400
    assert DOC in answer.json()["error"] and message in answer.json()["error"]
    assert CorrectionStore.beside(run).decisions() == []


@pytest.mark.parametrize(
    "headers",
    [
        {},  # neither
        {"Origin": BASE},  # no token
        {"Origin": BASE, "X-CSRF-Token": "guess"},
        {"Origin": "http://evil.example", "X-CSRF-Token": "TOKEN"},
        {"X-CSRF-Token": "TOKEN"},  # no Origin
        {"Origin": "http://127.0.0.1:9999", "X-CSRF-Token": "TOKEN"},  # another port is another origin
    ],
)
def test_writes_need_the_token_and_the_same_origin(bench: tuple[TestClient, Path, Suite], headers: dict) -> None:
    client, run, _ = bench
    token = client.app.state.bench.token  # type: ignore[attr-defined]
    headers = {key: value.replace("TOKEN", token) for key, value in headers.items()}
    answer = client.post("/api/decisions", json={"doc_id": DOC, "action": "accept", "record_index": 0},
                         headers=headers)  # fmt: skip
    assert answer.status_code == 403
    assert CorrectionStore.beside(run).decisions() == []
    assert client.post("/api/gold", json={}, headers=headers).status_code == 403


def test_a_foreign_host_header_is_refused(bench: tuple[TestClient, Path, Suite]) -> None:
    client, _, _ = bench
    assert client.get("/", headers={"Host": "rebound.example"}).status_code == 400  # DNS rebinding
    assert client.get("/", headers={"Host": "localhost:8765"}).status_code == 200


def test_script_in_values_and_ids_is_escaped(tmp_path: Path) -> None:
    hostile_id, hostile = "x<script>alert(1)</script>", "</script><script>alert(2)</script>"
    lines = [json.loads(line) for line in (SEEDS / "reference_run.jsonl").read_text().splitlines()]
    lines[0]["doc_id"] = hostile_id
    lines[0]["incidents"][0]["location"]["site"] = hostile
    run = tmp_path / "run.jsonl"
    run.write_text("".join(json.dumps(line) + "\n" for line in lines))
    app = make_app(run, CorrectionStore.beside(run), spec=load_schema("incident_v1"), documents=[SEEDS / "docs"])
    client = TestClient(app, base_url=BASE)
    answer = client.post("/api/decisions", json={"doc_id": hostile_id, "action": "note", "note": hostile},
                         headers=write_headers(client))  # fmt: skip
    assert answer.status_code == 200
    for page in (client.get("/").text, client.get("/doc/x%3Cscript%3Ealert(1)%3C/script%3E").text):
        assert "<script>alert" not in page and "alert(1)" in page
    page = client.get("/doc/x%3Cscript%3Ealert(1)%3C/script%3E").text
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    embedded = re.search(r'<script type="application/json" id="workbench-data">(.*?)</script>', page, re.S)
    assert embedded is not None and json.loads(embedded.group(1))["doc_id"] == hostile_id
    missing = client.get("/doc/%3Cscript%3Ealert(3)%3C/script%3E")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/plain")


def test_promote_to_gold_asks_before_replacing_and_then_rescores(bench: tuple[TestClient, Path, Suite]) -> None:
    client, _, suite = bench
    headers = write_headers(client)
    gold_before = suite.gold_path.read_text()
    client.post("/api/decisions", json={"doc_id": DOC, "action": "accept", "record_index": 0}, headers=headers)
    refused = client.post("/api/gold", json={}, headers=headers)
    assert refused.status_code == 409 and "already in the gold" in refused.json()["error"]
    assert suite.gold_path.read_text() == gold_before
    done = client.post("/api/gold", json={"replace": True}, headers=headers)
    assert done.status_code == 200 and f"replaced: {DOC}" in done.json()["message"]
    gold = {json.loads(line)["doc_id"]: json.loads(line) for line in suite.gold_path.read_text().splitlines()}
    assert [incident["id"] for incident in gold[DOC]["incidents"]] == [f"{DOC}-1"]
    assert client.app.state.bench.scores[DOC] == 1.0  # type: ignore[attr-defined]  # the run now matches its gold


def test_loopback_by_default_and_another_host_only_when_asked(tmp_path: Path) -> None:
    run, _ = copy_suite(tmp_path)
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"
    assert all(map(is_loopback, ["127.0.0.1", "localhost", "::1", "127.0.0.2"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.5", "example.org", "::"]))
    app = make_app(run, CorrectionStore.beside(run), spec=load_schema("incident_v1"), documents=[SEEDS / "docs"])
    with pytest.raises(LLMExtractError, match="not this machine"):
        serve(app, host="0.0.0.0", open_browser=False)


def test_the_workbench_compares_the_run_with_another_document_by_document(tmp_path: Path) -> None:
    run, suite = copy_suite(tmp_path)
    other = ROOT / "tests" / "data" / "scoring" / "seeds_run.jsonl"
    app = make_app(run, CorrectionStore.beside(run), spec=load_schema(suite.schema), suite=suite, compare_with=other)
    client = TestClient(app, base_url=BASE)
    assert 'href="/compare"' in client.get("/").text
    page = client.get("/compare")
    assert page.status_code == 200 and "<title>llm-extract compare" in page.text
    assert page.text.count("<section") == 5  # every seed document, regressions first
    alone = make_app(run, CorrectionStore.beside(run), spec=load_schema(suite.schema), suite=suite)
    assert TestClient(alone, base_url=BASE).get("/compare").status_code == 404
    with pytest.raises(LLMExtractError, match="--suite"):
        make_app(run, CorrectionStore.beside(run), spec=load_schema(suite.schema), compare_with=other)
