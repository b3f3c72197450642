"""`export`: stored runs and fused events as tables. Each format is written from real stored runs (the seeds,
muc4-incidents, MUC-4 templates) and events fused here, then READ BACK with its own reader (pandas, sqlite3,
duckdb): the rows are the run's incidents and documents, and the cells are the run line's values."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from llm_extract.events.fusion import fuse, run_incidents
from llm_extract.export import (
    INSTALL_EXTRA,
    DocumentRow,
    EventRow,
    ExportError,
    IncidentRow,
    documents_frame,
    event_rows,
    events_frame,
    export_file,
    incident_rows,
    incidents_frame,
    read_events,
)
from llm_extract.export.incidents import time_precision
from llm_extract.inputs.documents import InputFailure
from llm_extract.runs.runline import RunLine
from llm_extract.runs.store import read_run

ROOT = Path(__file__).resolve().parents[1]
SEED_RUN = ROOT / "evals" / "seeds" / "reference_run.jsonl"  # 5 ok documents, format 1
MUC4_INCIDENTS = ROOT / "evals" / "muc4-incidents" / "reference_run.jsonl"  # incident_v1: 114 ok, 86 invalid
MUC4_TEMPLATES = ROOT / "evals" / "muc4" / "muc4_v3_run.jsonl"  # muc4_v1 templates: 156 ok, 44 invalid
SUFFIXES = [".csv", ".parquet", ".xlsx", ".sqlite", ".duckdb"]  # and .db, SQLite's other suffix, for events
MULTI = {".xlsx", ".sqlite", ".db", ".duckdb"}


# ---- reading each format back with its own reader -------------------------------------------------------


def read_back(path: Path) -> dict[str, pd.DataFrame]:
    """Every table of an exported file, by the format's own reader."""
    suffix = path.suffix
    if suffix == ".csv":  # text as written: no "NA"/"None" words turned into missing values
        return {"csv": pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])}
    if suffix == ".parquet":
        return {"parquet": pd.read_parquet(path)}
    if suffix == ".xlsx":
        return pd.read_excel(path, sheet_name=None, keep_default_na=False, na_values=[""])  # "NULL" is text
    if suffix in (".sqlite", ".db"):
        with sqlite3.connect(path) as connection:
            names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {name: pd.read_sql(f'SELECT * FROM "{name}"', connection) for name in names}
    with duckdb.connect(str(path), read_only=True) as connection:
        names = [row[0] for row in connection.execute("SHOW TABLES").fetchall()]
        return {name: connection.execute(f'SELECT * FROM "{name}"').df() for name in names}


def cell(value: Any, dtype: str) -> Any:
    """A cell as read back, in the written column's type (CSV gives text, SQLite 0/1, Excel datetimes)."""
    if not isinstance(value, str) and pd.isna(value):
        return None
    if dtype == "Int64":
        return int(value)
    if dtype == "Float64":
        return float(value)
    if dtype == "boolean":
        return value in (True, 1, "True")
    if dtype == "object":  # dates
        return value.isoformat()[:10] if hasattr(value, "isoformat") else str(value)[:10]
    return str(value)


def cells(frame: pd.DataFrame, dtypes: dict[str, str]) -> list[dict[str, Any]]:
    return [{column: cell(row[column], dtype) for column, dtype in dtypes.items()} for _, row in frame.iterrows()]


def assert_same_table(read: pd.DataFrame, written: pd.DataFrame) -> None:
    assert list(read.columns) == list(written.columns)
    assert len(read) == len(written)
    dtypes = {column: str(dtype) for column, dtype in written.dtypes.items()}
    assert cells(read, dtypes) == cells(written, dtypes)


def run_lines(path: Path) -> list[RunLine]:
    return read_run(path).records


def stored(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed run's and muc4-incidents' incidents fused by the library, written as `fuse` writes them."""
    reports = run_incidents(SEED_RUN).reports + run_incidents(MUC4_INCIDENTS).reports
    path = tmp_path_factory.mktemp("fused") / "events.jsonl"
    path.write_text("".join(event.to_json() + "\n" for event in fuse(reports).events), encoding="utf-8")
    return path


# ---- the rows against the run lines -----------------------------------------------------------------------


def test_an_incident_row_holds_the_normalised_values_beside_the_models_own() -> None:
    lines = stored(SEED_RUN)
    rows = incident_rows(run_lines(SEED_RUN))
    assert len(rows) == sum(len(line["incidents"]) for line in lines)
    by_id = {row.record_id: row for row in rows}
    for line in lines:
        normalized = line["normalized"]
        for index, incident in enumerate(line["incidents"]):
            row, key = by_id[f"{line['doc_id']}#{index}"], f"incidents[{index}]"
            date, place = normalized[f"{key}.date"], normalized[f"{key}.location"]
            killed = normalized[f"{key}.casualties.killed"]
            assert (row.doc_id, row.incident_index) == (line["doc_id"], index)
            assert row.event_date == (dt.date.fromisoformat(date["start"]) if date["start"] else None)
            assert row.event_date_end == (dt.date.fromisoformat(date["end"]) if date["end"] else None)
            assert (row.date_precision, row.date_text) == (date["precision"], incident["date"]["text"])
            assert (row.country, row.country_model) == (place["code"], incident["location"]["country"])
            assert (row.fatalities, row.fatalities_max) == (killed["min"], killed["max"])
            own = incident["casualties"]["killed"]
            assert (row.fatalities_model_min, row.fatalities_model_max, row.fatalities_text) == (
                own["min"],
                own["max"],
                own["text"],
            )
            assert row.actor1 == (incident["perpetrators"][0]["name"] if incident["perpetrators"] else None)
            assert row.sub_event_type == incident["sub_event_type"] and row.event_type == incident["event_type"]
            assert row.notes == "; ".join(incident["evidence"])
            spans = [span for span in line["grounding"] if span["path"].startswith(f"{key}.")]
            missed = [span["path"].removeprefix(f"{key}.") for span in spans if span["status"] == "not_found"]
            assert (row.grounded, row.ungrounded) == (len(spans) - len(missed), len(missed))
            assert row.ungrounded_fields == ("; ".join(missed) or None)
            assert (row.origin, row.model, row.prompt, row.schema) == (
                line["origin"], line["model"], line["prompt"]["name"], line["schema"]["name"])  # fmt: skip
    # the model said UA (Ukraine) for an attack in Iraq: the normaliser kept its code and flagged the conflict
    first = by_id["000_d4b2816009667b46#0"]
    assert (first.country, first.country_conflict, first.time_precision) == ("UA", True, 1)
    assert (first.fatalities, first.fatalities_model_min) == (1, 0), "'minor injuries' read as some, not 0"


@pytest.mark.parametrize(
    ("precision", "start", "end", "code"),
    [("day", "2023-10-18", "2023-10-18", 1), ("day", "2023-10-17", "2023-10-19", 2), ("week", "2023-10-16",
     "2023-10-22", 2), ("month", "2023-10-01", "2023-10-31", 3), ("day", "2023-10-01", "2023-10-20", 3),
     ("year", "2023-01-01", "2023-12-31", 3), ("unknown", None, None, None)],
)  # fmt: skip
def test_time_precision_is_acleds_code(precision: str, start: str | None, end: str | None, code: int | None) -> None:
    day = dt.date.fromisoformat
    assert time_precision(precision, start and day(start), end and day(end)) == code


def test_the_gazetteers_keys_fill_the_place_columns_when_a_run_has_them(tmp_path: Path) -> None:
    line = stored(SEED_RUN)[0]
    placed = {"admin1": "Al Anbar", "admin1_code": "IQ.01", "place": "Al Asad Air Base", "latitude": 33.79,
              "longitude": 42.44, "geo_precision": 1, "geo_status": "resolved",
              "geo_reason": "in gazetteer"}  # fmt: skip
    line["normalized"]["incidents[0].location"] |= placed
    run = tmp_path / "run.jsonl"
    run.write_text(json.dumps(line) + "\n", encoding="utf-8")
    (row,) = incident_rows(run_lines(run))
    assert (row.admin1, row.admin1_code, row.location) == ("Al Anbar", "IQ.01", "Al Asad Air Base")
    assert (row.latitude, row.longitude, row.geo_precision) == (33.79, 42.44, 1)
    assert (row.geo_status, row.geo_reason, row.site) == ("resolved", "in gazetteer", "al-Asad airbase")
    (older,) = incident_rows(run_lines(SEED_RUN))[:1]
    assert (older.admin1, older.latitude, older.location) == (None, None, "western Iraq"), "else the model's town"


def test_lists_are_joined_text_never_python_reprs() -> None:
    frame = incidents_frame(run_lines(MUC4_INCIDENTS))
    texts = frame.select_dtypes("string")
    assert not texts.apply(lambda column: column.str.contains(r"^\[|\['|\{'", regex=True, na=False)).any().any()
    line = next(line for line in stored(SEED_RUN) if line["doc_id"] == "001_7f8756ff62989832")
    (row,) = incident_rows(run_lines(SEED_RUN))[1:2]
    assert row.claimed_by == "U. S. Central Command; Coalition troops; Iran-backed militias in Iraq"
    assert row.claimed_by == "; ".join(line["incidents"][0]["claimed_by"])


def test_every_document_is_a_row_with_its_status_and_reason() -> None:
    lines = stored(MUC4_INCIDENTS)
    frame = documents_frame(run_lines(MUC4_INCIDENTS))
    assert list(frame["doc_id"]) == [line["doc_id"] for line in lines]
    assert frame["status"].value_counts().to_dict() == {"ok": 114, "invalid": 86}
    invalid = next(line for line in lines if line["status"] == "invalid")
    row = frame.set_index("doc_id").loc[invalid["doc_id"]]
    assert (row["error_kind"], row["error"], row["incidents"]) == ("validation", invalid["error"], 0)
    assert frame["incidents"].sum() == sum(len(line["incidents"] or []) for line in lines if line["status"] == "ok")


def test_a_document_that_failed_before_the_model_is_in_documents_not_in_incidents(tmp_path: Path) -> None:
    failure = RunLine.failure(InputFailure("broken.txt", "/in/broken.txt", "not UTF-8 text (byte 0xff at 3)"))
    run = tmp_path / "run.jsonl"
    run.write_bytes(SEED_RUN.read_bytes() + failure.to_json() + b"\n")
    summary = export_file(run, tmp_path / "out.sqlite")
    assert summary.rows == {"incidents": 5, "documents": 6}
    with sqlite3.connect(tmp_path / "out.sqlite") as connection:
        found = connection.execute("SELECT status, error_kind, error, incidents, origin FROM documents "
                                   "WHERE doc_id = 'broken.txt'").fetchall()  # fmt: skip
        assert found == [("error", "input", "not UTF-8 text (byte 0xff at 3)", 0, "/in/broken.txt")]
        assert connection.execute("SELECT count(*) FROM incidents WHERE doc_id = 'broken.txt'").fetchone() == (0,)


def test_credentials_in_a_documents_url_are_not_exported(tmp_path: Path) -> None:
    line = stored(SEED_RUN)[0] | {"url": "https://reader:hunter22@news.example/a?api_key=abcd1234&page=2"}
    run = tmp_path / "run.jsonl"
    run.write_text(json.dumps(line) + "\n", encoding="utf-8")
    (row,) = incident_rows(run_lines(run))
    assert row.url == "https://***@news.example/a?api_key=***&page=2"
    assert documents_frame(run_lines(run))["url"][0] == row.url


def test_another_schemas_records_are_flattened_by_path(tmp_path: Path) -> None:
    lines = stored(MUC4_TEMPLATES)
    frame = incidents_frame(run_lines(MUC4_TEMPLATES))
    assert len(frame) == sum(len(line["templates"]) for line in lines if line["status"] == "ok")
    assert list(frame.columns[:9]) == ["record_id", "doc_id", "item_index", "incident_type", "PerpInd", "PerpOrg",
                                       "Target", "Victim", "Weapon"]  # fmt: skip
    second = next(line for line in lines if line["doc_id"] == "TST1-MUC3-0002")
    row = frame.set_index("record_id").loc["TST1-MUC3-0002#0"]
    template = second["templates"][0]
    assert row["Weapon"] == "; ".join(template["Weapon"]) and row["incident_type"] == template["incident_type"]
    assert pd.isna(row["PerpOrg"]) and template["PerpOrg"] == [], "an empty list is an empty cell"
    with pytest.raises(ExportError, match=r"TST1-MUC3-0002 was extracted with schema muc4_v1, not incident_v1"):
        incident_rows(run_lines(MUC4_TEMPLATES))


# ---- every format, read back ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("run", [SEED_RUN, MUC4_INCIDENTS, MUC4_TEMPLATES], ids=["seeds", "muc4-incidents", "muc4"])
def test_a_run_reads_back_from_every_format(tmp_path: Path, run: Path, suffix: str) -> None:
    lines = run_lines(run)
    incidents, documents = incidents_frame(lines), documents_frame(lines)
    dest = tmp_path / f"out{suffix}"
    summary = export_file(run, dest)
    tables = read_back(dest)
    if suffix in MULTI:
        assert summary.rows == {"incidents": len(incidents), "documents": len(lines)}
        assert sorted(tables) == ["documents", "incidents"]
        assert_same_table(tables["documents"], documents)
    else:
        assert summary.rows == {"incidents": len(incidents)}
        (tables["incidents"],) = tables.values()
    assert_same_table(tables["incidents"], incidents)
    ok = stored(run)
    records = sum(len(line.get("incidents") or line.get("templates") or []) for line in ok if line["status"] == "ok")
    assert len(tables["incidents"]) == records > 0
    assert list(tables["incidents"]["doc_id"].drop_duplicates()) == [
        line["doc_id"] for line in ok if line["status"] == "ok" and (line.get("incidents") or line.get("templates"))
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_single_table_format_takes_the_documents_when_asked(tmp_path: Path, suffix: str) -> None:
    summary = export_file(MUC4_TEMPLATES, tmp_path / f"docs{suffix}", table="documents")
    assert summary.rows == {"documents": 200}
    (read,) = read_back(tmp_path / f"docs{suffix}").values()
    assert_same_table(read, documents_frame(run_lines(MUC4_TEMPLATES)))
    assert (read["status"] == "invalid").sum() == 44


@pytest.mark.parametrize("suffix", [*SUFFIXES, ".db"])
def test_fused_events_read_back_from_every_format(tmp_path: Path, events_file: Path, suffix: str) -> None:
    events = read_events(events_file)
    dest = tmp_path / f"events{suffix}"
    assert export_file(events_file, dest).rows == {"events": len(events)}
    (read,) = read_back(dest).values()
    assert_same_table(read, events_frame(events))


def test_an_event_row_names_its_reports_articles_and_conflicts(events_file: Path) -> None:
    events = read_events(events_file)
    rows = {row.event_id: row for row in event_rows(events)}
    merged = next(event for event in events if len(event.sources) > 1)
    row = rows[merged.event_id]
    assert (row.reports, row.articles) == (len(merged.sources), len(merged.articles))
    assert row.record_ids == "; ".join(source.report for source in merged.sources)
    assert row.conflicts == "; ".join(conflict.field for conflict in merged.conflicts)
    record = merged.record
    assert (row.country, row.site) == (record["location"]["country"], record["location"]["site"])
    assert (row.fatalities, row.fatalities_max) == (record["casualties"]["killed"]["min"],
                                                    record["casualties"]["killed"]["max"])  # fmt: skip
    assert row.event_date == dt.date.fromisoformat(record["date"]["start"])
    assert row.actor1 == record["perpetrators"][0]["name"]
    assert row.assoc_actors == "; ".join(actor["name"] for actor in record["perpetrators"][1:])
    incident_ids = {row.record_id for run in (SEED_RUN, MUC4_INCIDENTS) for row in incident_rows(run_lines(run))}
    every = {report for event in rows.values() for report in (event.record_ids or "").split("; ")}
    assert every == incident_ids, "each incident is in exactly the events that name it, by its record_id"


# ---- what the user did not ask for does not happen ------------------------------------------------------


def test_an_existing_file_is_replaced_only_when_asked(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    dest.write_text("an analyst's own table\n", encoding="utf-8")
    with pytest.raises(ExportError, match=r"exists; give --force to replace it"):
        export_file(SEED_RUN, dest)
    assert dest.read_text(encoding="utf-8") == "an analyst's own table\n"
    export_file(SEED_RUN, dest, overwrite=True)
    assert len(pd.read_csv(dest)) == 5


def test_a_writer_that_fails_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cut_short(frame: pd.DataFrame, path: Path, **_: Any) -> None:
        Path(path).write_text("record_id,doc_id\n000_d4b", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", cut_short)
    dest = tmp_path / "out.csv"
    with pytest.raises(OSError, match="No space left"):
        export_file(SEED_RUN, dest)
    assert os.listdir(tmp_path) == [], "neither the destination nor the temporary file is left"
    dest.write_text("the previous export\n", encoding="utf-8")
    with pytest.raises(OSError, match="No space left"):
        export_file(SEED_RUN, dest, overwrite=True)
    assert os.listdir(tmp_path) == ["out.csv"] and dest.read_text(encoding="utf-8") == "the previous export\n"


@pytest.mark.parametrize(("suffix", "module"), [(".parquet", "pyarrow"), (".xlsx", "openpyxl"), (".duckdb", "duckdb")])
def test_a_missing_extra_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    with pytest.raises(ExportError, match=f"needs {module}") as refused:
        export_file(SEED_RUN, tmp_path / f"out{suffix}")
    assert str(refused.value).endswith('pip install "llm-extract[export]"') and INSTALL_EXTRA in str(refused.value)
    assert os.listdir(tmp_path) == []


def test_an_unknown_suffix_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"\.json.*\.csv, \.parquet, \.xlsx, \.sqlite, \.db, \.duckdb"):
        export_file(SEED_RUN, tmp_path / "out.json")


@pytest.mark.parametrize(
    ("content", "reason"),
    [("", "empty"), ('{"id": 1, "text": "an article"}\n', "neither a run line"), ("id,text\n", "not JSON")],
)
def test_a_file_that_is_neither_a_run_nor_events_is_refused(tmp_path: Path, content: str, reason: str) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(content, encoding="utf-8")
    with pytest.raises(ExportError, match=rf"{reason}.*llm-extract extract -o.*llm-extract fuse -o"):
        export_file(source, tmp_path / "out.csv")


def test_a_skipped_run_line_is_named_in_the_summary(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    run.write_bytes(SEED_RUN.read_bytes() + b'{"doc_id": "x", "status": "done"}\n')
    summary = export_file(run, tmp_path / "out.csv")
    assert summary.rows == {"incidents": 5}
    assert summary.warnings == [f"{run}:6: status 'done' is not one of ok, invalid, error; line skipped"]


def test_a_line_of_an_events_file_that_is_not_an_event_is_named(tmp_path: Path, events_file: Path) -> None:
    broken = tmp_path / "events.jsonl"
    first, *_ = events_file.read_text(encoding="utf-8").splitlines()
    broken.write_text(first + "\n\n" + '{"event_id": "ev-1", "record": {}}\n', encoding="utf-8")
    with pytest.raises(ExportError, match=r"events.jsonl:3: not a fused event \(KeyError: 'support'\)"):
        export_file(broken, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_a_table_the_file_does_not_have_is_refused(tmp_path: Path, events_file: Path) -> None:
    with pytest.raises(ExportError, match=r"--table documents: a events file has the tables events"):
        export_file(events_file, tmp_path / "out.csv", table="documents")


def test_excel_keeps_a_formula_looking_text_as_text_and_drops_control_characters(tmp_path: Path) -> None:
    line = stored(SEED_RUN)[0]
    line["incidents"][0]["evidence"] = ['=HYPERLINK("http://evil.example","click")', "drones\x0b intercepted"]
    run = tmp_path / "run.jsonl"
    run.write_text(json.dumps(line) + "\n", encoding="utf-8")
    export_file(run, tmp_path / "out.xlsx")
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["incidents"]
    header = [item.value for item in sheet[1]]
    notes = sheet.cell(row=2, column=header.index("notes") + 1)
    assert notes.data_type == "s"
    assert notes.value == '=HYPERLINK("http://evil.example","click"); drones intercepted'


# ---- the frames a notebook uses --------------------------------------------------------------------------


def test_frame_columns_are_typed_and_empty_cells_are_missing_values() -> None:
    frame = incidents_frame(run_lines(MUC4_INCIDENTS))
    assert {str(frame[c].dtype) for c in ("incident_index", "fatalities", "time_precision")} == {"Int64"}
    assert str(frame["latitude"].dtype) == "Float64" and str(frame["country_conflict"].dtype) == "boolean"
    assert str(frame["actor1"].dtype) == "string"
    assert frame["fatalities"].isna().any() and not (frame["actor1"] == "None").any()
    empty = incidents_frame([])
    assert list(empty.columns) == list(frame.columns) and len(empty) == 0


@pytest.mark.parametrize(("table", "row_type"), [("incidents", IncidentRow), ("documents", DocumentRow),
                                                 ("events", EventRow)])  # fmt: skip
def test_the_codebook_documents_every_column_in_order(table: str, row_type: type) -> None:
    codebook = (ROOT / "docs" / "CODEBOOK.md").read_text(encoding="utf-8")
    section = codebook.split(f"## `{table}`", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    assert documented == [field.name for field in dataclasses.fields(row_type)]
