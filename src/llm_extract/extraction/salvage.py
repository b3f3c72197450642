"""Salvage: an answer that still fails validation after its re-asks keeps its valid, grounded part.

A small model's answer is often right but for one value: a filler that is not the text's word, a country code
that is no country, an enum value of its own. Without salvage one such value cost the whole document (44 of the
200 MUC-4 development documents ended invalid and scored nothing). Salvage removes what validation rejects, one
error at a time, re-validating after each removal:

1. a record rejected as a whole (a check of the record against the text, e.g. "these fillers do not occur in
   the article") first loses the values of the schema's GROUNDED_FIELDS that are not in the text at all, then
   those found only fuzzily; if it is still rejected, the record goes;
2. any other error loses the value at its location: an unknown key is deleted, a list item removed, a field set
   to null; a location that fails again after that takes its parent with it, up to the record.

What was removed is kept with the record (path, value and the error that removed it), so a reviewer sees it and
the line says it was salvaged; the values that remain passed the schema's own validation, checks included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, from_json

from llm_extract.core.paths import Loc, loc_of, path_of
from llm_extract.extraction.annotate import ground_records
from llm_extract.extraction.grounding import Span
from llm_extract.extraction.schema_loader import SchemaSpec

MAX_STEPS = 200  # removals before giving up: an answer needing more is not worth keeping


@dataclass(frozen=True)
class Removed:
    path: str  # where the value was, in the answer as it stood when it was removed ('incidents[0].weapons[1]')
    value: Any
    reason: str  # the validation error, or "not in the text"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "value": self.value, "reason": self.reason}


@dataclass(frozen=True)
class Salvaged:
    parsed: BaseModel
    removed: tuple[Removed, ...]


def _existing(data: Any, loc: Loc) -> Loc:
    """The longest prefix of `loc` that exists in `data` (pydantic adds union branch names to some locations)."""
    node, found = data, []
    for part in loc:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_dict or in_list):
            break
        node = node[part]
        found.append(part)
    return tuple(found)


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def _remove(data: Any, loc: Loc, *, delete_key: bool = False) -> Any:
    """Remove the value at `loc` (a list item is taken out, a key deleted or set to null); returns it."""
    parent, last = _get(data, loc[:-1]), loc[-1]
    value = parent[last]
    if isinstance(parent, list) or delete_key:
        del parent[last]
    else:
        parent[last] = None
    return value


class _Salvager:
    def __init__(
        self, model: type[BaseModel], spec: SchemaSpec, context: dict[str, Any], text: str, data: dict[str, Any]
    ) -> None:
        self.model, self.spec, self.context, self.text, self.data = model, spec, context, text, data
        self.removed: list[Removed] = []
        self.cut = False  # the answer was cut off: an empty list after the cut says nothing
        records = data.get(spec.list_field)
        self.records_given = len(records) if isinstance(records, list) else 0
        self.failed_at: set[Loc] = set()  # locations already emptied once: a second failure takes the parent
        self.emptied: set[Loc] = set()  # null lists made empty once
        self.stripped: dict[int, int] = {}  # id(record) -> grounding passes done on it (1: not found, 2: fuzzy)

    def note(self, loc: Loc, value: Any, reason: str) -> None:
        self.removed.append(Removed(path_of(loc), value, reason))

    def take(self, loc: Loc, reason: str, *, delete_key: bool = False) -> None:
        self.note(loc, _remove(self.data, loc, delete_key=delete_key), reason)
        if isinstance(loc[-1], int):  # indexes after it moved: what failed there before says nothing now
            self.failed_at = {seen for seen in self.failed_at if seen[: len(loc) - 1] != loc[:-1]}

    def strip_ungrounded(self, record_loc: Loc) -> bool:
        """Remove the record's copied values that the text does not contain (first pass) or holds only fuzzily
        (second); False when there is nothing (more) to remove."""
        record = _get(self.data, record_loc)
        passes = self.stripped.get(id(record), 0)
        if passes >= 2 or not isinstance(record, dict):
            return False
        self.stripped[id(record)] = passes + 1
        spans: list[Span] = ground_records([record], self.text, self.spec, self.spec.grounded_fields)
        weak = [s for s in spans if s.status == "not_found" or (passes == 1 and s.status == "fuzzy")]
        if not weak:
            return self.strip_ungrounded(record_loc)  # nothing at this level: try the next
        # Deepest and last first, so removing one does not move the others.
        for span in sorted(weak, key=lambda s: loc_of(s.path)[1:], reverse=True):
            loc = record_loc + loc_of(span.path)[2:]
            self.take(loc, "not in the text" if span.status == "not_found" else "only a fuzzy match in the text")
        return True

    def step(self, error: ErrorDetails) -> bool:
        """Remove what one validation error names; False when nothing could be removed."""
        loc = _existing(self.data, tuple(error["loc"]))
        reason = f"{error['msg']}"
        field = self.spec.list_field
        if len(loc) < 2 or loc[0] != field:  # outside the records: a plan line, or the answer's own shape
            if len(loc) >= 2 and isinstance(loc[1], int):  # an item of another list (a plan line)
                self.take(loc[:2], reason)
                return True
            top = tuple(error["loc"][:1])
            # a helper field (the plan); a model's top-level locations are field names
            if len(top) == 1 and isinstance(top[0], str) and top[0] != field and top not in self.failed_at:
                self.failed_at.add(top)
                self.data[top[0]] = []
                self.note(top, None, f"{reason}: emptied")
                return True
            return False
        if error["type"] == "extra_forbidden":
            self.take(loc, reason, delete_key=True)
            return True
        if error["type"] == "missing" and loc == tuple(error["loc"])[:-1] and isinstance(error["loc"][-1], str):
            missing = (*loc, error["loc"][-1])  # a required-but-nullable field left out: null, as the schema allows
            if missing not in self.failed_at:
                self.failed_at.add(missing)
                _get(self.data, loc)[missing[-1]] = None
                self.note(missing, None, "missing: filled with null")
                return True
            loc = missing
        if len(loc) == 2:
            if not self.strip_ungrounded(loc):
                self.take(loc, reason)
            return True
        null_list = error["type"] == "list_type" and error.get("input", ...) is None and loc == tuple(error["loc"])
        if null_list and loc not in self.emptied:
            self.emptied.add(loc)
            _get(self.data, loc[:-1])[loc[-1]] = []  # a list left out or null: empty, not the record's end
            self.note(loc, None, "null where a list is required: emptied")
            return True
        while loc in self.failed_at and len(loc) > 2:  # emptied once and still wrong: the parent goes
            loc = loc[:-1]
        if len(loc) > 2:
            self.failed_at.add(loc)
        self.take(loc, reason)
        return True

    def run(self, extra_check: Callable[[dict[str, Any]], list[str]] | None) -> Salvaged | None:
        for _ in range(MAX_STEPS):
            try:
                parsed = self.model.model_validate(self.data, context=self.context)
            except ValidationError as exc:
                if not self.step(exc.errors(include_url=False)[0]):
                    return None
                continue
            rejected = extra_check(parsed.model_dump(mode="json")) if extra_check else []
            if not rejected:
                # An answer that had records (or was cut off) and kept none is no answer: "ok, no incident" would
                # be a claim the model never made.
                had, kept = self.records_given or self.cut, getattr(parsed, self.spec.list_field, None)
                return Salvaged(parsed, tuple(self.removed)) if kept or not had else None
            for path in sorted(rejected, key=loc_of, reverse=True):
                self.take(_existing(self.data, loc_of(path)), "not in the text (a key value)")
        return None


def salvage(
    answer: str | None,
    model: type[BaseModel],
    spec: SchemaSpec,
    context: dict[str, Any],
    text: str,
    extra_check: Callable[[dict[str, Any]], list[str]] | None = None,
) -> Salvaged | None:
    """The valid part of a rejected answer, validated by `model` with `context`; None when the answer is not a JSON
    object, nothing valid is left of its shape, or none of the records it gave is left. `extra_check` names further
    paths to remove (key values not in the text, when grounding is required)."""
    cut = False
    try:
        data = json.loads(answer or "")
    except json.JSONDecodeError:
        try:  # an answer cut off at max_tokens: what came before the cut (pydantic's partial JSON parser)
            data, cut = from_json(answer or "", allow_partial=True), True
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    salvager = _Salvager(model, spec, context, text, data)
    if cut:
        salvager.cut = True
        salvager.removed.append(Removed("", None, "the answer was cut off: only what came before the cut is kept"))
    return salvager.run(extra_check)
