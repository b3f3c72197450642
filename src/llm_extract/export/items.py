"""One row per record of a run of any schema (muc4_v1 templates, a user's own): the record's leaves as columns
named by their path, for schemas the incident columns do not describe.

A record is flattened by the path syntax of `llm_extract.core.paths`: `location.site` for a value inside an
object, `PerpInd` for a list of values (its items "; "-joined in one cell), `weapons[].type` for a value inside
the objects of a list (one value per object, "; "-joined); an empty list is an empty cell under its own path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llm_extract.export.cells import grounding_of, joined, safe_url
from llm_extract.export.records import schema_name, with_records
from llm_extract.runs.runline import RunLine

Scalar = str | int | float | bool | None


def _leaves(value: Any, path: str, out: dict[str, tuple[bool, list[Any]]], in_list: bool) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _leaves(child, f"{path}.{key}" if path else key, out, in_list)
    elif isinstance(value, list):
        if not value:
            out.setdefault(path, (True, []))  # an empty list: an empty cell under the list's own path
        for item in value:
            _leaves(item, f"{path}[]" if isinstance(item, dict | list) else path, out, True)
    else:
        out.setdefault(path, (in_list, []))[1].append(value)


def flatten(record: dict[str, Any]) -> dict[str, Scalar]:
    """The record's leaves by path: a value as it is, the values under a list "; "-joined (None when none)."""
    out: dict[str, tuple[bool, list[Any]]] = {}
    _leaves(record, "", out, in_list=False)
    return {path: joined(values) if many else values[0] for path, (many, values) in out.items() if many or values}


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One record of another schema than incident_v1 (columns: docs/CODEBOOK.md, "other schemas"). `values`
    become columns between the identifying and the provenance columns."""

    record_id: str
    doc_id: str
    item_index: int
    values: dict[str, Scalar]
    grounding: str
    grounded: int | None
    ungrounded: int | None
    ungrounded_fields: str | None
    source: str | None
    url: str | None
    published: str | None
    origin: str | None
    model: str | None
    prompt: str | None
    schema: str | None


def item_rows(lines: Iterable[RunLine]) -> list[ItemRow]:
    """One row per record of every ok line, whatever the schema (the records under its list field)."""
    rows: list[ItemRow] = []
    for given in lines:
        if not given.ok:
            continue
        line = with_records(given)
        for index, record in enumerate(line.records):
            grounding = grounding_of(line, f"{line.list_field}[{index}].")
            rows.append(
                ItemRow(
                    record_id=f"{line.doc_id}#{index}",
                    doc_id=line.doc_id,
                    item_index=index,
                    values=flatten(record),
                    grounding=grounding.status,
                    grounded=grounding.found,
                    ungrounded=grounding.missed,
                    ungrounded_fields=grounding.missed_paths,
                    source=line.source,
                    url=safe_url(line.url),
                    published=line.published,
                    origin=line.origin,
                    model=line.model,
                    prompt=line.prompt.name if line.prompt is not None else None,
                    schema=schema_name(line),
                )
            )
    return rows
