"""The fused event: one line of the events.jsonl that `fuse` writes, typed.

`llm_extract.events.canonical` builds the event's record, support, conflicts, articles and sources;
`llm_extract.events.fusion` adds how its reports were linked. Readers (the CLI, tests, a notebook) use the
attributes; `to_dict` and `to_json` give the stored line, keys in the order they have always been written, so a
line is the same bytes as before the event was typed. `from_dict` reads a stored line back.

These are frozen dataclasses, not pydantic models: fusion builds every event itself (nothing to validate), a
benchmark fuses a hundred thousand reports, and a model's JSON serialiser would not write the bytes `json.dumps`
wrote (spacing, floats). The record stays the schema's own JSON object (its shape is the schema's, as in a run
line), and `support` maps a field's path to the reports that give the reported value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SOURCE_KEYS = ("report", "doc_id", "index")  # a source's own keys; the rest of its line is the report's meta


@dataclass(frozen=True, slots=True)
class ConflictValue:
    """One value reports give for a field, the reports that give it and, where kept, the articles' words."""

    value: Any
    sources: list[str]
    words: list[str] | None = None  # written only when there are words

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "sources": self.sources, **({"words": self.words} if self.words else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConflictValue:
        return cls(data["value"], list(data["sources"]), data.get("words"))


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field on which the reports disagree: what is reported, by which rule, and every value given."""

    field: str
    reported: Any
    rule: str
    values: list[ConflictValue]

    def to_dict(self) -> dict[str, Any]:
        values = [value.to_dict() for value in self.values]
        return {"field": self.field, "reported": self.reported, "rule": self.rule, "values": values}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Conflict:
        values = [ConflictValue.from_dict(value) for value in data["values"]]
        return cls(data["field"], data["reported"], data["rule"], values)


@dataclass(frozen=True, slots=True)
class EventSource:
    """One report of the event: its id ('doc_id#index'), its article and its place there, and what the run
    said of the article and the report (`meta`: origin, published, url, source, role, evidence)."""

    report: str
    doc_id: str
    index: int
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"report": self.report, "doc_id": self.doc_id, "index": self.index, **self.meta}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventSource:
        meta = {key: value for key, value in data.items() if key not in SOURCE_KEYS}
        return cls(data["report"], data["doc_id"], data["index"], meta)


@dataclass(frozen=True, slots=True)
class Link:
    """Two member reports, their score and the evidence behind it (fusion's table)."""

    reports: list[str]
    score: float
    evidence: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"reports": self.reports, "score": self.score, "evidence": self.evidence}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Link:
        return cls(list(data["reports"]), data["score"], dict(data["evidence"]))


@dataclass(frozen=True, slots=True)
class FusedEvent:
    """One canonical event: its id, the reported record with the reports supporting each value, the conflicts,
    its articles and reports (earliest first), and how the reports were linked."""

    event_id: str
    record: dict[str, Any]
    support: dict[str, list[str]]
    conflicts: list[Conflict]
    articles: list[str]
    sources: list[EventSource]
    links: list[Link] = field(default_factory=list)
    weakest_merge: float | None = None  # the lowest mean cross score among the merges that built it
    borderline: bool = False  # the weakest merge is close to the threshold: for a person to check

    @property
    def reports(self) -> list[str]:
        """The member report ids, earliest first."""
        return [source.report for source in self.sources]

    def conflict(self, path: str) -> Conflict | None:
        """The conflict on a field, if the reports disagree on it."""
        return next((conflict for conflict in self.conflicts if conflict.field == path), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "record": self.record,
            "support": self.support,
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
            "articles": self.articles,
            "sources": [source.to_dict() for source in self.sources],
            "links": [link.to_dict() for link in self.links],
            "weakest_merge": self.weakest_merge,
            "borderline": self.borderline,
        }

    def to_json(self) -> str:
        """The event's line in events.jsonl (without the newline)."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FusedEvent:
        return cls(
            event_id=data["event_id"],
            record=data["record"],
            support=data["support"],
            conflicts=[Conflict.from_dict(conflict) for conflict in data["conflicts"]],
            articles=list(data["articles"]),
            sources=[EventSource.from_dict(source) for source in data["sources"]],
            links=[Link.from_dict(link) for link in data.get("links") or []],
            weakest_merge=data.get("weakest_merge"),
            borderline=bool(data.get("borderline", False)),
        )

    @classmethod
    def from_json(cls, line: str | bytes) -> FusedEvent:
        return cls.from_dict(json.loads(line))
