"""Runs and fused events as flat tables an analyst opens: CSV, Parquet, Excel, SQLite, DuckDB.

The rows (incidents, documents, events, and any other schema's records) are typed dataclasses; the DataFrames
and every file format are built from them, so a column is defined once. Columns: docs/CODEBOOK.md.
"""

from llm_extract.export.documents import DocumentRow, document_rows
from llm_extract.export.events import EventRow, event_rows
from llm_extract.export.files import ExportSummary, export_file, read_events, source_kind
from llm_extract.export.frames import documents_frame, events_frame, incidents_frame, items_frame
from llm_extract.export.incidents import IncidentRow, incident_rows
from llm_extract.export.items import ItemRow, item_rows
from llm_extract.export.records import ExportError
from llm_extract.export.writers import FORMATS, INSTALL_EXTRA

__all__ = [
    "FORMATS",
    "INSTALL_EXTRA",
    "DocumentRow",
    "EventRow",
    "ExportError",
    "ExportSummary",
    "IncidentRow",
    "ItemRow",
    "document_rows",
    "documents_frame",
    "event_rows",
    "events_frame",
    "export_file",
    "incident_rows",
    "incidents_frame",
    "item_rows",
    "items_frame",
    "read_events",
    "source_kind",
]
