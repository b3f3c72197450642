"""One row per input document: the account that every document ended as records or as a failure, with why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llm_extract.core.redact import scrub_optional
from llm_extract.export.cells import grounding_of, joined, safe_url
from llm_extract.export.records import schema_name, with_records
from llm_extract.runs.runline import RunLine


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """A document of a run (columns: docs/CODEBOOK.md, "documents")."""

    doc_id: str
    status: str
    error_kind: str | None
    error: str | None
    incidents: int
    grounding: str
    grounded: int | None
    ungrounded: int | None
    input_notes: str | None
    origin: str | None
    source: str | None
    url: str | None
    published: str | None
    model: str | None
    prompt: str | None
    schema: str | None
    attempts: int
    reasks: int
    cached: bool
    latency_s: float
    total_tokens: int
    finished_at: str | None


def document_row(line: RunLine) -> DocumentRow:
    grounding = grounding_of(line)
    return DocumentRow(
        doc_id=line.doc_id,
        status=line.status,
        error_kind=line.error_kind,
        error=scrub_optional(line.error),
        incidents=len(with_records(line).records),
        grounding=grounding.status,
        grounded=grounding.found,
        ungrounded=grounding.missed,
        input_notes=joined(line.input_notes),
        origin=line.origin,
        source=line.source,
        url=safe_url(line.url),
        published=line.published,
        model=line.model,
        prompt=line.prompt.name if line.prompt is not None else None,
        schema=schema_name(line),
        attempts=line.attempts,
        reasks=line.reasks,
        cached=line.cached,
        latency_s=line.latency_s,
        total_tokens=line.usage.total_tokens,
        finished_at=line.finished_at,
    )


def document_rows(lines: Iterable[RunLine]) -> list[DocumentRow]:
    """One row per line of a run, whatever its status: ok, invalid (the model's answer failed validation) or
    error (no answer, or the input could not be read), with the error kind and reason."""
    return [document_row(line) for line in lines]
