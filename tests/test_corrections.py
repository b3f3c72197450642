"""Corrections kept in SQLite beside a run (review/corrections.py): the store, the corrected run, gold from them
(review/gold.py).

Every test works on a copy of a real stored run (the seed suite's reference run, or the scoring fixture's run
with two records in a line) and checks the run file is never written."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_extract.cli import app
from llm_extract.export.files import export_file
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.providers.local_model import sha256_of
from llm_extract.review.corrections import (
    CorrectionError,
    CorrectionStore,
    corrected_run,
    store_beside,
    write_corrected_run,
)
from llm_extract.review.gold import add_gold, gold_lines
from llm_extract.runs.store import read_manifest, read_run

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "evals" / "seeds"
SEEDS_RUN = SEEDS / "reference_run.jsonl"
FIXTURE_RUN = ROOT / "tests" / "data" / "scoring" / "seeds_run.jsonl"
MUC4_RUN = ROOT / "evals" / "muc4-incidents" / "reference_run.jsonl"  # grounded lines with several records


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A copy of the seed suite's reference run and its manifest."""
    shutil.copy(SEEDS_RUN, tmp_path / "run.jsonl")
    shutil.copy(SEEDS / "reference_run.manifest.json", tmp_path / "run.manifest.json")
    return tmp_path / "run.jsonl"


def stored(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def first_doc(run: Path) -> str:
    return str(stored(run)[0]["doc_id"])


def two_record_run(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the scoring fixture's run and the id of a line with two or more records."""
    path = tmp_path / "two.jsonl"
    shutil.copy(FIXTURE_RUN, path)
    doc = next(line["doc_id"] for line in stored(path) if len(line.get("incidents") or []) >= 2)
    return path, doc


# ---- the store -------------------------------------------------------------------------------------


def test_decisions_are_kept_in_sqlite_beside_the_run_which_is_never_written(run: Path) -> None:
    before = run.read_bytes()
    store = CorrectionStore.beside(run)
    doc = first_doc(run)
    edit = store.add(
        doc_id=doc,
        action="edit",
        who="ana",
        record_index=0,
        path="location.country",
        before="UA",
        after="IQ",
        note="the article is about Iraq",
    )
    picked = store.add(
        doc_id=doc,
        action="edit",
        who="ana",
        record_index=0,
        path="location.site",
        after="al-Asad airbase",
        start=351,
        end=366,
    )
    note = store.add(doc_id=doc, action="note", who="bo", note="check the date")

    assert store.db == run.with_name("run.review.sqlite") == store_beside(run)
    assert (edit.id, picked.id, note.id) == (1, 2, 3)
    assert edit.at.endswith("+00:00") and edit.before == "UA" and edit.after == "IQ"
    # a second store on the same file reads what the first wrote, every column
    again = CorrectionStore(store.db, run).decisions(doc)
    assert again == [edit, picked, note]
    assert (again[1].start, again[1].end, again[2].record_index, again[2].note) == (351, 366, None, "check the date")
    rows = sqlite3.connect(store.db).execute("SELECT action, path, before_json, after_json, who FROM decisions")
    assert rows.fetchall()[0] == ("edit", "location.country", '"UA"', '"IQ"', "ana")
    assert sqlite3.connect(store.db).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert store.reviewed_ids() == {doc}
    assert run.read_bytes() == before


@pytest.mark.parametrize(
    ("decision", "message"),
    [
        ({"doc_id": "nope", "action": "accept", "record_index": 0}, "'nope': not in the run"),
        ({"action": "approve", "record_index": 0}, "unknown action 'approve'"),
        ({"action": "accept", "record_index": 0, "who": " "}, "needs who made it"),
        ({"action": "accept"}, "accept needs the record's index"),
        ({"action": "accept", "record_index": 7}, "no record 7"),
        ({"action": "edit", "record_index": 0}, "an edit needs field path"),
        ({"action": "reject", "record_index": 0, "path": "role"}, "reject takes no field path"),
        ({"action": "edit", "record_index": 0, "path": "targets[x].name", "after": 1}, "not a field path"),
        ({"action": "edit", "record_index": 0, "path": "targets..name", "after": 1}, "not a field path"),
        ({"action": "add", "after": ["not", "a record"]}, "an added record is a JSON object"),
        ({"action": "add", "record_index": 0, "after": {}}, "counts on from the line's 1 record"),
        ({"action": "note"}, "a note needs its text"),
        ({"action": "edit", "record_index": 0, "path": "role", "after": "main", "start": 3}, "both offsets"),
        ({"action": "edit", "record_index": 0, "path": "role", "after": "main", "start": 9, "end": 3}, "9-3"),
        ({"action": "edit", "record_index": 0, "path": "role", "after": float("nan")}, "not JSON"),
    ],
)
def test_a_decision_that_cannot_be_applied_is_refused_naming_the_document(
    run: Path, decision: dict[str, Any], message: str
) -> None:
    store = CorrectionStore.beside(run)
    given = {"doc_id": first_doc(run), "who": "ana", **decision}
    with pytest.raises(CorrectionError, match=message) as caught:
        store.add(**given)
    assert f"document {given['doc_id']!r}" in str(caught.value)
    assert store.decisions() == []


def test_a_store_opened_with_another_run_or_a_changed_run_is_refused(run: Path, tmp_path: Path) -> None:
    store = CorrectionStore.beside(run)
    store.add(doc_id=first_doc(run), action="accept", who="ana", record_index=0)
    other = tmp_path / "other.jsonl"
    shutil.copy(FIXTURE_RUN, other)
    with pytest.raises(CorrectionError, match=r"holds decisions on another run: .*run\.jsonl") as caught:
        CorrectionStore(store.db, other)
    assert f"{other} has sha256 {sha256_of(other)[:12]}" in str(caught.value)
    # the same run moved elsewhere is still the run
    moved = tmp_path / "moved.jsonl"
    shutil.copy(run, moved)
    assert len(CorrectionStore(store.db, moved).decisions()) == 1
    # the run changed after the first decision: indexes would point at other records
    with run.open("ab") as handle:
        handle.write(run.read_bytes().splitlines(keepends=True)[0])
    with pytest.raises(CorrectionError, match="another run, or the run changed since"):
        CorrectionStore.beside(run)


def test_a_file_that_is_not_a_corrections_database_is_refused(run: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 50)
    with pytest.raises(CorrectionError, match="cannot be used as a corrections database"):
        CorrectionStore(text, run)
    assert text.read_text() == "not a database\n" * 50
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(CorrectionError, match=r"database of something else \(tables: people\)"):
        CorrectionStore(other, run)
    with pytest.raises(CorrectionError, match="is the run"):
        CorrectionStore(run, run)


def test_threads_and_stores_write_at_once_and_lose_nothing(run: Path) -> None:
    docs = [line["doc_id"] for line in stored(run)]
    stores = [CorrectionStore.beside(run), CorrectionStore.beside(run)]
    errors: list[BaseException] = []

    def write(store: CorrectionStore, worker: int) -> None:
        try:
            for number in range(25):
                store.add(doc_id=docs[number % len(docs)], action="note", who=f"w{worker}", note=f"{worker}:{number}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(stores[i % 2], i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    decisions = stores[0].decisions()
    assert len(decisions) == 100 and len({d.id for d in decisions}) == 100
    assert {d.note for d in decisions} == {f"{w}:{n}" for w in range(4) for n in range(25)}


def test_the_endpoint_key_never_enters_the_database(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789abcdef"
    manifest = json.loads(run.with_name("run.manifest.json").read_text())
    manifest["settings"]["api_key"] = secret  # as if a manifest had kept it
    manifest["endpoint"]["base_url"] = f"https://user:{secret}@example.org/v1"
    run.with_name("run.manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("LLM_EXTRACT_API_KEY", secret)
    store = CorrectionStore.beside(run)
    store.add(doc_id=first_doc(run), action="edit", who="ana", record_index=0, path="role", after="background")
    store.add(doc_id=first_doc(run), action="note", who="ana", note="user text is kept as written")
    written = b"".join(path.read_bytes() for path in run.parent.glob("run.review.sqlite*"))
    assert b"user text is kept as written" in written
    assert secret.encode() not in written


# ---- applying decisions -------------------------------------------------------------------------------


def test_the_latest_decision_wins_and_each_change_is_on_the_corrected_line(tmp_path: Path) -> None:
    path, doc = two_record_run(tmp_path)
    store = CorrectionStore(tmp_path / "c.sqlite", path)
    line = next(line for line in store.lines() if line.doc_id == doc)
    store.add(doc_id=doc, action="edit", who="ana", record_index=1, path="location.town", after="first")
    store.add(doc_id=doc, action="edit", who="bo", record_index=1, path="location.town", after="second")
    store.add(doc_id=doc, action="accept", who="ana", record_index=0)
    store.add(doc_id=doc, action="reject", who="ana", record_index=0)  # the latest verdict on record 0
    store.add(doc_id=doc, action="reject", who="ana", record_index=1)
    store.add(doc_id=doc, action="accept", who="bo", record_index=1)  # ... and on record 1
    corrected = store.corrected(line)

    assert corrected.reviewed
    assert [record["location"]["town"] for record in corrected.line.records] == ["second"]
    assert corrected.sources == list(range(1, len(line.records)))
    assert corrected.line.records[0] == {
        **line.records[1],
        "location": {**line.records[1]["location"], "town": "second"},
    }
    entry = corrected.line.extra("reviewed")
    assert entry["who"] == ["ana", "bo"] and entry["decisions"] == 6
    assert entry["records"] == corrected.sources
    assert [(c["action"], c["record"], c.get("after")) for c in entry["changes"]] == [
        ("edit", 1, "second"),
        ("reject", 0, None),
        ("accept", 1, None),
    ]
    assert entry["changes"][0]["before"] == line.records[1]["location"]["town"]
    assert line.records == next(s["incidents"] for s in stored(path) if s["doc_id"] == doc)  # not changed in place
    assert path.read_bytes() == FIXTURE_RUN.read_bytes()


def test_an_edit_whose_record_or_path_is_gone_is_reported_not_applied(tmp_path: Path) -> None:
    path, doc = two_record_run(tmp_path)
    store = CorrectionStore(tmp_path / "c.sqlite", path)
    line = next(line for line in store.lines() if line.doc_id == doc)
    store.add(doc_id=doc, action="edit", who="ana", record_index=0, path="perpetrators[9].name", after="x")
    store.add(doc_id=doc, action="edit", who="ana", record_index=0, path="role[0]", after="x")
    store.add(doc_id=doc, action="reject", who="ana", record_index=1)
    store.add(doc_id=doc, action="edit", who="ana", record_index=1, path="role", after="main")
    store.add(doc_id=doc, action="edit", who="ana", record_index=0, path="casualties.missing.min", after=4)
    corrected = store.corrected(line)

    reasons = {(c.record_index, c.path): c.reason for c in corrected.not_applied}
    assert reasons == {
        (0, "perpetrators[9].name"): f"perpetrators[9] does not exist (the list has "
        f"{len(line.records[0]['perpetrators'])} element(s))",
        (0, "role[0]"): "role[0] does not exist (the list has 0 element(s))",
        (1, "role"): "the record is rejected",
    }
    assert corrected.line.records[0]["casualties"]["missing"] == {"min": 4}  # objects are made on the way
    entry = corrected.line.extra("reviewed")
    assert [c["applied"] for c in entry["changes"]] == [False, False, True, False, True]
    assert "reason" in entry["changes"][0]


def test_annotations_follow_the_records_and_leave_edited_values(tmp_path: Path) -> None:
    path = tmp_path / "muc4.jsonl"
    shutil.copy(MUC4_RUN, path)
    shutil.copy(MUC4_RUN.with_name("reference_run.manifest.json"), tmp_path / "muc4.manifest.json")
    doc = next(line["doc_id"] for line in stored(path) if len(line.get("incidents") or []) >= 2 and line["grounding"])
    store = CorrectionStore(tmp_path / "c.sqlite", path)
    line = next(line for line in store.lines() if line.doc_id == doc)
    assert line.grounding and line.normalized
    store.add(doc_id=doc, action="reject", who="ana", record_index=0)
    store.add(
        doc_id=doc,
        action="edit",
        who="ana",
        record_index=1,
        path="location",
        after={"site": "Harir", "town": None, "region": None, "country": "IQ", "precision": "site"},
        start=10,
        end=15,
    )
    store.add(
        doc_id=doc, action="edit", who="ana", record_index=1, path="location.site", after="al-Harir", start=100, end=108
    )
    corrected = store.corrected(line).line

    spans = {span.path: span for span in corrected.grounding or []}
    dropped = 0
    for span in line.grounding or []:
        index = int(span.path.split("]")[0].removeprefix("incidents["))
        moved = span.path.replace(f"incidents[{index}]", f"incidents[{index - 1}]", 1)
        if index == 0 or span.path.startswith("incidents[1].location"):  # rejected, or the model's replaced value
            dropped += 1
            assert index == 0 or moved not in spans or spans[moved].quote == "al-Harir"
        else:
            assert spans[moved] == span._replace(path=moved)
    assert len(corrected.grounding or []) == len(line.grounding or []) - dropped + 1  # + the picked value
    assert (spans["incidents[0].location.site"].start, spans["incidents[0].location.site"].status) == (100, "exact")
    assert (line.normalized or {})["incidents[1].location"]["code"] != "IQ"
    assert (corrected.normalized or {})["incidents[0].location"]["code"] == "IQ"  # made again from the correction
    assert set(corrected.ungrounded or []) <= set(spans)


def test_an_added_record_makes_a_failed_document_ok(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    lines = stored(SEEDS_RUN)
    lines[1] = {**lines[1], "status": "invalid", "incidents": None, "error_kind": "validation", "error": "bad"}
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    store = CorrectionStore(tmp_path / "c.sqlite", path)
    doc = lines[1]["doc_id"]
    added = store.add(doc_id=doc, action="add", who="ana", after={"role": "main", "sub_event_type": "attack"})
    again = store.add(doc_id=doc, action="add", who="ana", after={"role": "background"})
    assert (added.record_index, again.record_index) == (0, 1)
    corrected = store.corrected(store.lines()[1])
    assert corrected.line.status == "ok" and corrected.line.error is None
    assert corrected.line.records == [{"role": "main", "sub_event_type": "attack"}, {"role": "background"}]
    assert corrected.line.extra("reviewed")["status"] == "invalid"


# ---- the corrected run --------------------------------------------------------------------------------


def test_the_corrected_run_reads_back_and_exports_like_any_run(run: Path, tmp_path: Path) -> None:
    store = CorrectionStore.beside(run)
    doc = first_doc(run)
    store.add(doc_id=doc, action="edit", who="ana", record_index=0, path="location.country", after="IQ")
    store.add(doc_id=doc, action="edit", who="ana", record_index=0, path="location.town", after=None)
    dest = tmp_path / "out" / "corrected.jsonl"
    assert write_corrected_run(run, dest) == dest

    original, corrected = run.read_bytes().splitlines(), dest.read_bytes().splitlines()
    assert corrected[1:] == original[1:]  # lines nobody reviewed are copied byte for byte
    schema = load_schema("incident_v1")
    lines = read_run(dest, schema.list_field, schema.json_schema)
    assert lines.problems == [] and len(lines.records) == 5
    assert lines.records[0].records[0]["location"]["country"] == "IQ"
    manifest = read_manifest(dest) or {}
    assert manifest["corrected"]["from"] == str(run) and manifest["corrected"]["corrections"] == str(store.db)
    assert manifest["corrected"]["run_sha256"] == sha256_of(run) and manifest["corrected"]["decisions"] == 2
    assert manifest["schema"] == (read_manifest(run) or {})["schema"]

    table = tmp_path / "incidents.csv"
    export_file(dest, table)
    frame = pd.read_csv(table)
    row = frame[frame["doc_id"] == doc].iloc[0]
    assert row["country"] == "IQ" and pd.isna(row["town"])  # not the model's UA (normalised to Ukraine), nor its town


def test_write_corrected_run_refuses_to_overwrite(run: Path, tmp_path: Path) -> None:
    with pytest.raises(CorrectionError, match="no corrections at"):
        write_corrected_run(run, tmp_path / "c.jsonl")
    assert not store_beside(run).exists()  # reading corrections makes no database
    store = CorrectionStore.beside(run)
    store.add(doc_id=first_doc(run), action="reject", who="ana", record_index=0)
    dest = tmp_path / "c.jsonl"
    dest.write_text("mine\n")
    with pytest.raises(CorrectionError, match="exists; give --force"):
        write_corrected_run(run, dest)
    assert dest.read_text() == "mine\n"
    for target in (run, run.with_name("run.manifest.json"), store.db):
        with pytest.raises(CorrectionError, match="would replace the run"):
            write_corrected_run(run, target, overwrite=True)
    write_corrected_run(run, dest, overwrite=True)
    assert stored(dest)[0]["incidents"] == [] and len(stored(dest)) == 5


def test_corrected_run_lists_every_line(run: Path) -> None:
    store = CorrectionStore.beside(run)
    store.add(doc_id=first_doc(run), action="note", who="ana", note="only a note")
    lines = corrected_run(run)
    assert [c.line.doc_id for c in lines] == [line["doc_id"] for line in stored(run)]
    assert not lines[0].reviewed and lines[0].line.records == stored(run)[0]["incidents"]
    assert lines[0].line.extra("reviewed")["notes"][0]["note"] == "only a note"
    assert all(c.line.extra("reviewed") is None for c in lines[1:])


# ---- gold ---------------------------------------------------------------------------------------------


def test_gold_marks_what_the_reviewer_did_not_confirm(run: Path) -> None:
    store = CorrectionStore.beside(run)
    doc = first_doc(run)
    record = stored(run)[0]["incidents"][0]
    store.add(doc_id=doc, action="edit", who="ana", record_index=0, path="location.country", after="IQ")
    store.add(
        doc_id=doc,
        action="edit",
        who="ana",
        record_index=0,
        path="perpetrators[0].name",
        after="Islamic Resistance in Iraq",
        start=214,
        end=240,
    )
    store.add(doc_id=doc, action="add", who="ana", after={**record, "location": {**record["location"], "site": None}})
    store.add(doc_id=doc, action="note", who="ana", note="two bases")
    (line,) = gold_lines(run, SEEDS)

    edited, added = line["incidents"]
    assert line["doc_id"] == doc and "two bases" in line["notes"] and "by ana" in line["notes"]
    assert (edited["id"], edited["optional"], added["id"]) == (f"{doc}-1", False, f"{doc}-2")
    # edited: the reviewer's values required, the model's others accepted but not required
    assert edited["location"] == {
        "site": [record["location"]["site"], None],
        "town": [record["location"]["town"], None],
        "region": [record["location"]["region"], None],
        "country": "IQ",
    }
    assert edited["perpetrators"] == [
        {
            "name": "Islamic Resistance in Iraq",
            "attribution": record["perpetrators"][0]["attribution"],
            "optional": ["attribution"],
        }
    ]
    assert edited["claimed_by"] == [{"optional": value} for value in record["claimed_by"]]
    assert edited["date"] == {"start": [record["date"]["start"], None], "precision": record["date"]["precision"]}
    assert "evidence" not in edited and "text" not in edited["date"] and "precision" not in edited["location"]
    # added: the reviewer wrote it, so it is gold as it stands (a null is "the article gives none")
    assert added["location"]["site"] is None and added["location"]["country"] == record["location"]["country"]
    assert added["perpetrators"] == [
        {k: v for k, v in p.items() if k in ("name", "attribution")} for p in record["perpetrators"]
    ]


def test_an_undecided_record_is_an_optional_incident_and_a_rejected_one_none(tmp_path: Path) -> None:
    path, doc = two_record_run(tmp_path)
    store = CorrectionStore(tmp_path / "c.sqlite", path)
    count = len(next(line for line in stored(path) if line["doc_id"] == doc)["incidents"])
    store.add(doc_id=doc, action="reject", who="ana", record_index=0)
    store.add(doc_id=doc, action="accept", who="ana", record_index=1)
    (line,) = gold_lines(path, SEEDS, tmp_path / "c.sqlite")
    assert [incident["optional"] for incident in line["incidents"]] == [False] + [True] * (count - 2)
    accepted = line["incidents"][0]
    assert not any(isinstance(v, list) and None in v for v in accepted["location"].values())  # all required


def test_gold_is_for_incident_suites(run: Path) -> None:
    CorrectionStore.beside(run).add(doc_id=first_doc(run), action="accept", who="ana", record_index=0)
    with pytest.raises(CorrectionError, match="scores gtt templates"):
        gold_lines(run, ROOT / "evals" / "muc4")


def test_add_gold_appends_refuses_a_known_document_and_replaces_on_request(run: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(SEEDS, suite)
    gold = suite / "gold.jsonl"
    original = gold.read_bytes()
    store = CorrectionStore.beside(run)
    doc = first_doc(run)
    store.add(doc_id=doc, action="accept", who="ana", record_index=0)
    with pytest.raises(CorrectionError, match=f"{doc} already in the gold .*--replace"):
        add_gold(suite, run)
    assert gold.read_bytes() == original

    summary = add_gold(suite, run, replace=True)
    assert (summary.replaced, summary.added, summary.incidents, summary.gold_path) == ((doc,), (), 1, gold)
    after = gold.read_bytes().splitlines()
    assert after[1:] == original.splitlines()[1:]  # the other documents' lines byte for byte
    assert json.loads(after[0])["incidents"][0]["id"] == f"{doc}-1"

    kept = [line for line in original.splitlines() if json.loads(line)["doc_id"] != doc]
    gold.write_bytes(b"\n".join(kept) + b"\n")
    summary = add_gold(suite, run)
    assert summary.added == (doc,) and gold.read_bytes().splitlines()[:-1] == kept


def test_add_gold_without_a_reviewed_document_writes_nothing(run: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(SEEDS, suite)
    CorrectionStore.beside(run).add(doc_id=first_doc(run), action="note", who="ana", note="later")
    with pytest.raises(CorrectionError, match=r"no document .* is reviewed"):
        add_gold(suite, run)
    assert (suite / "gold.jsonl").read_bytes() == (SEEDS / "gold.jsonl").read_bytes()


def eval_metrics(suite: Path, run: Path, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["eval", str(suite), "--run", str(run), "-o", str(out)])
    assert result.exit_code in (0, 1) and (out / "report.json").is_file(), result.output  # 1: the suite's gate
    return dict(json.loads((out / "report.json").read_text())["metrics"])


def test_eval_reflects_gold_added_from_corrections(run: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    shutil.copytree(SEEDS, suite)
    before = eval_metrics(suite, run, tmp_path / "before")
    assert before["fields.micro.f1"] < 0.9

    store = CorrectionStore.beside(run)
    for line in stored(run):  # the reviewer accepts every record as the model gave it
        for index in range(len(line["incidents"])):
            store.add(doc_id=line["doc_id"], action="accept", who="ana", record_index=index)
    assert add_gold(suite, run, replace=True).documents == 5
    accepted = eval_metrics(suite, run, tmp_path / "accepted")
    assert accepted["fields.micro.f1"] == accepted["incidents.f1"] == 1.0  # the run is its own gold now

    doc = first_doc(run)  # then corrects one value: the run, unchanged, now has it wrong
    store.add(doc_id=doc, action="edit", who="ana", record_index=0, path="location.country", after="IQ")
    add_gold(suite, run, replace=True)
    corrected = eval_metrics(suite, run, tmp_path / "corrected")
    assert corrected["incidents.f1"] == 1.0 and corrected["fields.micro.f1"] < 1.0
    report = json.loads((tmp_path / "corrected" / "report.json").read_text())
    assert report["fields"]["by_field"]["location.country"] | {} == {
        **report["fields"]["by_field"]["location.country"],
        "tp": 4,
        "fp": 1,
        "fn": 1,
    }
