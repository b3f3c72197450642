"""`llm-extract export`: a stored run or fused events file in, a table file out (format from the suffix).

A run gives two tables, `incidents` (one row per record) and `documents` (one row per document, failures
included); fused events give one, `events`. A format that holds several tables (Excel sheets, SQLite and
DuckDB tables) gets them all; CSV and Parquet get the first unless `table` names another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llm_extract.events.event import FusedEvent
from llm_extract.export.frames import documents_frame, events_frame, incidents_frame
from llm_extract.export.records import ExportError
from llm_extract.export.writers import MULTI_TABLE, format_of, require, write_tables
from llm_extract.runs.store import read_run

if TYPE_CHECKING:
    import pandas as pd

SourceKind = Literal["run", "events"]
TABLES: dict[SourceKind, tuple[str, ...]] = {"run": ("incidents", "documents"), "events": ("events",)}


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: from which file, to which, the rows of each table, and the lines skipped."""

    source: Path
    dest: Path
    kind: SourceKind
    format: str
    rows: dict[str, int]  # table -> rows written, in the order written
    warnings: list[str] = field(default_factory=list)  # run lines skipped, as "file:line: reason; line skipped"


def source_kind(source: Path) -> SourceKind:
    """A run (lines with doc_id and status) or fused events (lines with event_id and record), by the first line;
    anything else is an error that says what was expected."""
    expected = "give a run (the JSONL of `llm-extract extract -o`) or fused events (`llm-extract fuse -o`)"
    if not source.is_file():
        raise ExportError(f"no file at {source}: {expected}")
    try:
        with source.open(encoding="utf-8") as handle:
            first = next((line for line in handle if line.strip()), "")
        value = json.loads(first) if first else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{source}: its first line is not JSON ({exc}); {expected}") from exc
    if isinstance(value, dict) and {"event_id", "record"} <= value.keys():
        return "events"
    if isinstance(value, dict) and {"doc_id", "status"} <= value.keys():
        return "run"
    what = "empty" if value is None else "neither a run line (doc_id, status) nor an event (event_id, record)"
    raise ExportError(f"{source}: the first line is {what}; {expected}")


def read_events(source: Path) -> list[FusedEvent]:
    """The events of an events.jsonl; a line that is not one is an error naming file:line."""
    events = []
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                events.append(FusedEvent.from_json(line))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ExportError(f"{source}:{number}: not a fused event ({type(exc).__name__}: {exc})") from exc
    return events


def source_tables(source: Path, kind: SourceKind) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The tables of a run or events file, and the run lines skipped (each as file:line: reason)."""
    if kind == "events":
        return {"events": events_frame(read_events(source))}, []
    run = read_run(source)  # refuses a missing, empty or wholly unusable run; names each skipped line
    return {"incidents": incidents_frame(run.records), "documents": documents_frame(run.records)}, run.warnings()


def export_file(source: Path, dest: Path, *, overwrite: bool = False, table: str | None = None) -> ExportSummary:
    """Write a stored run or fused events file as tables to `dest`, in the format its suffix names (.csv,
    .parquet, .xlsx, .sqlite/.db, .duckdb). An existing `dest` is replaced only with `overwrite` (the CLI's
    --force), and then whole: a SQLite or DuckDB file is rewritten, not added to."""
    source, dest = Path(source), Path(dest)
    kind_of_file = format_of(dest)
    require(kind_of_file)  # before reading: a missing package costs nothing
    if dest.is_dir():
        raise ExportError(f"--to {dest} is a folder; give a file path such as {dest / 'incidents.csv'}")
    if dest.exists() and not overwrite:
        raise ExportError(f"--to {dest} exists; give --force to replace it")
    kind = source_kind(source)
    if table is not None and table not in TABLES[kind]:
        raise ExportError(f"--table {table}: a {kind} file has the tables {', '.join(TABLES[kind])}")
    tables, warnings = source_tables(source, kind)
    if table is not None:
        tables = {table: tables[table]}
    elif kind_of_file not in MULTI_TABLE:
        first = TABLES[kind][0]
        tables = {first: tables[first]}
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_tables(tables, dest, kind_of_file)
    rows = {name: len(frame) for name, frame in tables.items()}
    return ExportSummary(source, dest, kind, kind_of_file, rows, warnings)
