"""What goes into one cell of an exported table: lists as text, a record's grounding as counts.

A spreadsheet, a CSV reader or a SQL table holds one value per cell, so a list becomes "; "-joined text (never a
Python repr such as "['a', 'b']"), and the grounding spans of a line become counts a filter can use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llm_extract.core.redact import scrub_optional
from llm_extract.runs.runline import GroundingSpan, RunLine

SEPARATOR = "; "  # between the items of a list in one cell (documented in docs/CODEBOOK.md)


def joined(values: Iterable[Any]) -> str | None:
    """The non-empty values as "; "-joined text, or None (an empty cell) when there is none."""
    texts = [str(value) for value in values if value is not None and str(value).strip()]
    return SEPARATOR.join(texts) if texts else None


def text(value: Any) -> str | None:
    """A scalar as text for a text column; None (and an empty string) stays an empty cell."""
    return None if value is None or value == "" else str(value)


def number(value: Any) -> int | None:
    """An integer for an integer column; anything else (a model's "3", a bool) is not a count."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decimal(value: Any) -> float | None:
    """A float for a float column (a coordinate), from an int or float; anything else is an empty cell."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def flag(value: Any) -> bool | None:
    """A bool for a true/false column; anything else is an empty cell."""
    return value if isinstance(value, bool) else None


def safe_url(url: str | None) -> str | None:
    """A document's url without credentials (`user:key@`, `?api_key=`): exports are shared."""
    return scrub_optional(url)


def dict_at(value: Any, *keys: str) -> dict[str, Any]:
    """The object at nested keys of a JSON value, or {} where a key is missing or a value is not an object (a
    stored record's shape is the schema's; an older or foreign one may lack a part)."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Grounding:
    """How the copied values of a record (or a document) were found in the article."""

    status: str  # all_found, some_found, none_found, no_values, not_checked
    found: int | None  # None: not checked (a run stored before grounding existed)
    missed: int | None
    missed_paths: str | None  # "; "-joined paths of the values not found, relative to the record


def grounding_of(line: RunLine, prefix: str = "") -> Grounding:
    """The grounding of the spans under `prefix` ("incidents[0]."; "" for the whole document)."""
    if line.grounding is None:
        return Grounding("not_checked", None, None, None)
    spans: list[GroundingSpan] = [span for span in line.grounding if span.path.startswith(prefix)]
    found = sum(span.found for span in spans)
    missed = [span.path.removeprefix(prefix) for span in spans if not span.found]
    return Grounding(_status(len(spans), found), found, len(missed), joined(missed))


def _status(values: int, found: int) -> str:
    if not values:
        return "no_values"
    return "all_found" if found == values else ("none_found" if not found else "some_found")
