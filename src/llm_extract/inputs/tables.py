"""Lists of articles in a table (.csv, .tsv, .xlsx): one article per row.

Analysts keep article lists in spreadsheets. The columns read are id, text, published, url, source and
title, each under its own name unless a mapping says otherwise (`{"text": "body", "id": "ID"}`, or the CLI's
`--columns text=body,id=ID`). Every cell is read as text (no number or date guessing by pandas; an Excel date
cell becomes `YYYY-MM-DD 00:00:00`, whose date documents.py keeps). Rows are numbered as a spreadsheet shows
them: the header is row 1, the first article row 2. A table without an id column gives each row the id
`<file name>:<row>`; every sheet of a workbook is read, its rows named `<sheet>:<row>` when there are several.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pandas as pd

from llm_extract.core.errors import ConfigError

FIELDS = ("id", "text", "published", "url", "source", "title")
REQUIRED = ("text",)
COLUMNS_FLAG = "--columns"
EXPORT_EXTRA = 'pip install "llm-extract[export]"'


@dataclass(frozen=True)
class Row:
    where: str  # "12", or "Sheet2:12" in a workbook of several sheets
    fields: dict[str, str | None]  # FIELDS present in the table; a blank optional cell is None


def parse_columns(spec: str, flag: str = COLUMNS_FLAG) -> dict[str, str]:
    """`text=body,id=ID` as {"text": "body", "id": "ID"}; a ConfigError naming the flag when malformed."""
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        field, sep, column = (piece.strip() for piece in part.partition("="))
        if not sep or not field or not column:
            raise ConfigError(f"{flag}: {part.strip()!r} is not FIELD=COLUMN (e.g. {flag} text=body,id=ID)")
        if field in mapping:
            raise ConfigError(f"{flag}: {field!r} is given twice")
        mapping[field] = column
    return check_columns(mapping, flag)


def check_columns(mapping: Mapping[str, str], flag: str = COLUMNS_FLAG) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{flag}: unknown field {', '.join(map(repr, unknown))} (fields: {', '.join(FIELDS)})")
    return dict(mapping)


def csv_rows(text: str, suffix: str, columns: Mapping[str, str] | None = None) -> Iterator[Row]:
    """The rows of a .csv (comma) or .tsv (tab) table, already decoded. A ValueError for the whole file:
    unreadable, a mapped column that is not there, or no text column."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep="\t" if suffix == ".tsv" else ",")
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise ValueError(f"not a readable {suffix[1:].upper()} table: {' '.join(str(exc).split())}") from None
    return _rows({"": frame}, columns)


def xlsx_rows(data: bytes, columns: Mapping[str, str] | None = None) -> Iterator[Row]:
    """The rows of every sheet of an .xlsx workbook (openpyxl, from the export extra)."""
    try:
        import openpyxl  # noqa: F401  (pandas' xlsx engine; checked here for a message that says what to install)
    except ImportError:
        raise ValueError(f"reading .xlsx needs openpyxl: {EXPORT_EXTRA}") from None
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=str, keep_default_na=False, engine="openpyxl")
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"not a readable XLSX workbook: {' '.join(str(exc).split())}") from None
    return _rows(sheets, columns)


def _rows(sheets: dict[str, pd.DataFrame], columns: Mapping[str, str] | None) -> Iterator[Row]:
    mapping = {field: field for field in FIELDS} | dict(columns or {})
    several = len(sheets) > 1
    checked = {
        name: _columns(frame, mapping, columns or {}, name if several else None) for name, frame in sheets.items()
    }
    return _each_row(sheets, checked, several)


def _each_row(sheets: dict[str, pd.DataFrame], checked: dict[str, dict[str, str]], several: bool) -> Iterator[Row]:
    for name, frame in sheets.items():
        present = checked[name]
        for index, values in enumerate(frame.itertuples(index=False, name=None)):
            row = dict(zip(map(str, frame.columns), values, strict=True))
            number = index + 2  # the header is row 1
            fields = {field: _cell(row[column], field) for field, column in present.items()}
            yield Row(f"{name}:{number}" if several else str(number), fields)


def _columns(
    frame: pd.DataFrame, mapping: dict[str, str], asked: Mapping[str, str], sheet: str | None
) -> dict[str, str]:
    """Field -> column for the columns the table has; a column the caller named, or the text, must be there."""
    headers = [str(column) for column in frame.columns]
    where = f"sheet {sheet!r}: " if sheet else ""
    for field, column in mapping.items():
        if column not in headers and (field in asked or field in REQUIRED):
            how = f"{COLUMNS_FLAG} {field}={column}" if field in asked else f"the default for {field}"
            hint = "" if field in asked else f"; map yours with {COLUMNS_FLAG} {field}=NAME"
            raise ValueError(
                f"{where}no column {column!r} ({how}); the columns are: {', '.join(headers) or 'none'}{hint}"
            )
    return {field: column for field, column in mapping.items() if column in headers}


def _cell(value: object, field: str) -> str | None:
    text = "" if value is None else str(value)
    return text if text.strip() or field in ("id", "text") else None
