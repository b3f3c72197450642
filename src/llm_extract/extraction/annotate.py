"""What a stored line carries beside a document's validated records: grounding and normalisation.

The schema module declares which values are copied from the text (GROUNDED_FIELDS), which of those a
record needs (KEY_FIELDS) and which parts are normalised (NORMALIZED_FIELDS). Every value is addressed
by a concrete path such as `incidents[0].location.site`, so a reader of the JSONL, the eval report and
the review page all point at the same thing. The records themselves are never changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from llm_extract.core.paths import iter_path
from llm_extract.extraction.grounding import Span, locate
from llm_extract.extraction.normalize import (
    Anchor,
    find_dateline,
    normalise_casualties,
    normalise_location,
    resolve_date,
)
from llm_extract.extraction.schema_loader import SchemaSpec
from llm_extract.inputs.documents import Document

NORMALIZERS: dict[str, Callable[[Any, Anchor | None], dict[str, Any]]] = {
    "date": lambda node, anchor: resolve_date((node or {}).get("text"), anchor),
    "country": lambda node, _anchor: normalise_location(node),  # the country, and the gazetteer's place
    "casualties": lambda node, _anchor: normalise_casualties(node),
}


def anchor_for(document: Document) -> Anchor | None:
    """The publication date given with the document, else a dateline found in its first lines."""
    if document.published:
        return Anchor(dt.date.fromisoformat(document.published), "published")
    return find_dateline(document.text)


def ground_records(records: list[dict[str, Any]], text: str, spec: SchemaSpec, fields: tuple[str, ...]) -> list[Span]:
    """Locate each listed value of each record; a record's first grounded field (its evidence) guides the rest."""
    spans: list[Span] = []
    for index, record in enumerate(records):
        prefix = f"{spec.list_field}[{index}]"
        prefer: list[tuple[int, int]] = []
        for field in fields:
            for path, value in iter_path(record, field, prefix):
                span = locate(str(value), text, path, prefer)
                spans.append(span)
                if field == fields[0] and span.start is not None and span.end is not None:
                    prefer.append((span.start, span.end))
    return spans


def annotate(records: list[dict[str, Any]], document: Document, spec: SchemaSpec) -> dict[str, Any]:
    """The `anchor`, `grounding`, `ungrounded` and `normalized` entries of a stored line."""
    anchor = anchor_for(document)
    spans = ground_records(records, document.text, spec, spec.grounded_fields)
    normalized: dict[str, Any] = {}
    for index, record in enumerate(records):
        for path, kind in spec.normalized_fields:
            for concrete, node in iter_path(record, path, f"{spec.list_field}[{index}]"):
                normalized[concrete] = NORMALIZERS[kind](node, anchor)
    return {
        "anchor": anchor.as_dict() if anchor else None,
        "grounding": [span.as_dict() for span in spans],
        "ungrounded": [span.path for span in spans if not span.found],
        "normalized": normalized,
    }


def ungrounded_key_values(records: list[dict[str, Any]], text: str, spec: SchemaSpec) -> list[Span]:
    """Key values not found in the text at all (a fuzzy match counts as found): what a re-ask names."""
    return [span for span in ground_records(records, text, spec, spec.key_fields) if not span.found]
