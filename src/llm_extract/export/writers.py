"""Tables written to a file by its suffix, through pandas and duckdb's own writers, atomically.

Each format is written to a temporary file beside the destination, which replaces it only when the writer
has finished: a killed or failed export leaves the old file (or none), never half a file. Parquet, Excel and
DuckDB need the `export` extra; without it the error says how to install it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from llm_extract.export.records import ExportError

if TYPE_CHECKING:
    import pandas as pd

Tables = Mapping[str, "pd.DataFrame"]
INSTALL_EXTRA = 'pip install "llm-extract[export]"'
FORMATS = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx", ".sqlite": "sqlite", ".db": "sqlite",
           ".duckdb": "duckdb"}  # fmt: skip
MULTI_TABLE = frozenset({"xlsx", "sqlite", "duckdb"})  # a sheet or table per table; the others hold one
_NEEDS = {"parquet": "pyarrow", "xlsx": "openpyxl", "duckdb": "duckdb"}  # the export extra's packages


def format_of(dest: Path) -> str:
    """The format a destination's suffix names; any other suffix is an error listing the ones known."""
    found = FORMATS.get(dest.suffix.lower())
    if found is None:
        known = ", ".join(FORMATS)
        raise ExportError(f"--to {dest}: cannot tell the format from {dest.suffix or 'no suffix'}; use one of {known}")
    return found


def require(kind: str) -> ModuleType | None:
    """The package a format needs (None for CSV and SQLite, which pandas and Python write alone)."""
    module = _NEEDS.get(kind)
    if module is None:
        return None
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ExportError(f"writing {kind} needs {module}, which is not installed: {INSTALL_EXTRA}") from exc


def _csv(tables: Tables, path: Path) -> None:
    (frame,) = tables.values()
    frame.to_csv(path, index=False, encoding="utf-8")


def _parquet(tables: Tables, path: Path) -> None:
    (frame,) = tables.values()
    frame.to_parquet(path, index=False, engine="pyarrow")


def _xlsx(tables: Tables, path: Path) -> None:
    """One sheet per table. Control characters Excel cannot hold are removed, and a text that starts with "="
    stays text: openpyxl would store it as a formula, and a model's or an article's words must never run."""
    import pandas as pd
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in tables.items():
            texts = [column for column, dtype in frame.dtypes.items() if dtype == "string"]
            cleaned = frame.assign(**{column: frame[column].str.replace(ILLEGAL_CHARACTERS_RE, "", regex=True)
                                      for column in texts})  # fmt: skip
            cleaned.to_excel(writer, sheet_name=name, index=False)
            for row in writer.sheets[name].iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        cell.data_type = "s"


def _sqlite(tables: Tables, path: Path) -> None:
    """One table per table. SQLite has no date type: dates (and any column of mixed values) are stored as text,
    a date as ISO 8601 ("2023-10-18")."""
    from pandas.api.types import is_object_dtype

    with contextlib.closing(sqlite3.connect(path)) as connection:
        for name, frame in tables.items():
            dates = [column for column, dtype in frame.dtypes.items() if is_object_dtype(dtype)]
            frame.astype(dict.fromkeys(dates, "string")).to_sql(name, connection, index=False)
        connection.commit()


def _duckdb(tables: Tables, path: Path) -> None:
    duckdb = require("duckdb")
    assert duckdb is not None
    with contextlib.closing(duckdb.connect(str(path))) as connection:
        for name, frame in tables.items():
            connection.register("llm_extract_frame", frame)
            connection.execute(f'CREATE TABLE "{name}" AS SELECT * FROM llm_extract_frame')
            connection.unregister("llm_extract_frame")


_WRITERS: dict[str, Callable[[Tables, Path], None]] = {
    "csv": _csv, "parquet": _parquet, "xlsx": _xlsx, "sqlite": _sqlite, "duckdb": _duckdb,
}  # fmt: skip


def write_tables(tables: Tables, dest: Path, kind: str) -> None:
    """Write the tables (one for CSV and Parquet) in `kind`'s format to a temporary file beside `dest`, and
    rename it to `dest` once complete; on any failure the temporary file is removed and `dest` is untouched."""
    require(kind)
    if kind not in MULTI_TABLE and len(tables) != 1:
        raise ExportError(f"{kind} holds one table, not {len(tables)}: choose one ({', '.join(tables)})")
    temporary = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    leftovers = (temporary, temporary.with_name(f"{temporary.name}.wal"))  # duckdb's log, if it was cut short
    try:
        _WRITERS[kind](tables, temporary)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, dest)
    finally:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
