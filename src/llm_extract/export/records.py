"""Which records a run line holds, and whether they are incident_v1's (the ACLED-like columns) or another
schema's (the generic flattening)."""

from __future__ import annotations

import contextlib

from llm_extract.core.errors import LLMExtractError
from llm_extract.events.fusion import INCIDENT_SCHEMA
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.runs.runline import RunLine


class ExportError(LLMExtractError):
    """A run, events file or destination the export cannot use; the message names it and says why."""


def schema_name(line: RunLine) -> str | None:
    """The schema a line was made with (a failure line, which never reached the model, names none)."""
    return line.schema_ref.name if line.schema_ref is not None else None


def is_incident_line(line: RunLine) -> bool:
    """Made with incident_v1 (or stored before lines named their schema, with an `incidents` list)."""
    name = schema_name(line)
    return name == INCIDENT_SCHEMA or (name is None and line.list_field == "incidents")


def with_records(line: RunLine) -> RunLine:
    """The line read under its schema's list field. A line read without its schema guesses the field (the one
    key it does not know that holds a list); an ok line where that guess fails is read under the field its
    schema declares, and one whose schema cannot be loaded either is an error, not a document without rows."""
    if not line.ok or line.list_field is not None:
        return line
    name = schema_name(line)
    if name is not None:
        with contextlib.suppress(LLMExtractError):
            read = line.under(load_schema(name).list_field)
            if read.list_field is not None:
                return read
    raise ExportError(
        f"document {line.doc_id}: cannot tell which key holds its records (schema {name or 'not named'}); "
        "read the run with the schema's list field (RunLine.under)"
    )
