"""The rows as pandas DataFrames: what a notebook uses, and what every export format is written from, so the
columns are defined once (the row dataclasses) and typed the same in every format.

Each column gets a nullable pandas dtype from its row field's type (int: Int64, float: Float64, bool: boolean,
str: string; dates stay datetime.date objects, which Parquet and DuckDB store as DATE), so an empty cell is a
missing value, never 0, "" or "None". pandas is imported when a frame is built, not when llm_extract is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from llm_extract.events.event import FusedEvent
from llm_extract.export.documents import DocumentRow, document_rows
from llm_extract.export.events import EventRow, event_rows
from llm_extract.export.incidents import IncidentRow, incident_rows
from llm_extract.export.items import ItemRow, item_rows
from llm_extract.export.records import is_incident_line
from llm_extract.runs.runline import RunLine

if TYPE_CHECKING:
    import pandas as pd

_DTYPES: dict[type, str] = {bool: "boolean", int: "Int64", float: "Float64", str: "string", dt.date: "object"}


@cache
def column_dtypes(row_type: type) -> dict[str, str]:
    """Column -> pandas dtype, from the row dataclass's field types (`int | None` -> Int64)."""
    hints = typing.get_type_hints(row_type)
    dtypes = {}
    for column in dataclasses.fields(row_type):
        hint = hints[column.name]
        kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)] if _is_union(hint) else [hint]
        if len(kinds) != 1 or kinds[0] not in _DTYPES:
            continue  # not a cell (ItemRow.values): the caller spreads it
        dtypes[column.name] = _DTYPES[kinds[0]]
    return dtypes


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def rows_frame(rows: Sequence[Any], row_type: type) -> pd.DataFrame:
    """A frame with one column per field of `row_type`, in field order, each of its dtype (also with no rows)."""
    import pandas as pd

    return pd.DataFrame(
        {
            column: pd.array([getattr(row, column) for row in rows], dtype=dtype)
            for column, dtype in column_dtypes(row_type).items()
        }
    )


def items_frame(rows: Sequence[ItemRow]) -> pd.DataFrame:
    """ItemRow's columns with each record's values spread between the identifying and the provenance columns
    (in the order first met). A value path that is also a fixed column's name is prefixed "record."."""
    import pandas as pd

    fixed = rows_frame(rows, ItemRow)
    paths = list(dict.fromkeys(path for row in rows for path in row.values))
    named = {path: f"record.{path}" if path in fixed.columns else path for path in paths}
    values = pd.DataFrame(
        {named[path]: pd.Series([row.values.get(path) for row in rows], dtype=object) for path in paths},
        index=fixed.index,
    ).convert_dtypes()
    first = ["record_id", "doc_id", "item_index"]
    return pd.concat([fixed[first], values, fixed.drop(columns=first)], axis=1)


def incidents_frame(lines: Iterable[RunLine]) -> pd.DataFrame:
    """One row per record of a run: the incident columns for an incident_v1 run, else the generic flattening
    (items_frame) of its schema's records."""
    lines = list(lines)
    if all(is_incident_line(line) for line in lines if line.ok):
        return rows_frame(incident_rows(lines), IncidentRow)
    return items_frame(item_rows(lines))


def documents_frame(lines: Iterable[RunLine]) -> pd.DataFrame:
    """One row per document of a run, failures included."""
    return rows_frame(document_rows(lines), DocumentRow)


def events_frame(events: Iterable[FusedEvent]) -> pd.DataFrame:
    """One row per fused event."""
    return rows_frame(event_rows(events), EventRow)
