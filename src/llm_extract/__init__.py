"""llm-extract: news articles in, validated and verifiable incident records out."""

from llm_extract.api import (
    RunSummary,
    compare_runs,
    documents_frame,
    dry_run,
    events_frame,
    export_file,
    extract_batch,
    extract_text,
    incidents_frame,
    load_run,
    make_extractor,
    review_run,
)
from llm_extract.core.config import Settings, load_settings
from llm_extract.extraction.annotate import annotate
from llm_extract.extraction.extract import ExtractionResult, Extractor
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document, InputFailure, iter_inputs
from llm_extract.runs.runline import RunLine

__all__ = [
    "Document",
    "ExtractionResult",
    "Extractor",
    "InputFailure",
    "RunLine",
    "RunSummary",
    "Settings",
    "annotate",
    "compare_runs",
    "documents_frame",
    "dry_run",
    "events_frame",
    "export_file",
    "extract_batch",
    "extract_text",
    "incidents_frame",
    "iter_inputs",
    "load_prompt",
    "load_run",
    "load_schema",
    "load_settings",
    "make_extractor",
    "review_run",
]
