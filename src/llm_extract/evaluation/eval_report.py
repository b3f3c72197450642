"""EvalReport: the typed eval report, what `evaluate.py` makes and the Markdown page, the CLI, the API and the gate
read.

The stored form is report.json (and a suite's baseline.json, an older report.json): its keys, their order and
its sections are unchanged. `EvalReport.from_json` types the parts that readers use (headline metrics, score rows,
the run section, grounding, the plain reference, fusion, each document's diff) and keeps the JSON object it was
read from; `to_json` writes that object back byte for byte, so a section this module does not type (or a key a
newer version adds) is kept as it is. Parsing is lenient: a part missing from an older report is None or empty.

Frozen dataclasses rather than pydantic models: the report is made and read by this package alone, it needs no
coercion or validation beyond "is it an eval report" (the gate reads `metrics`), and its JSON keeps a key order
per profile (and extra sections) that pydantic's dump would reorder.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


def _dict(value: Any) -> JSON:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Scores:
    """One row's precision, recall and F1, with its counts: tp/fp/fn (the "fields" profile, fusion) or
    correct/predicted and found/gold fillers (p_num/p_den, r_num/r_den: the GTT metric)."""

    precision: float
    recall: float
    f1: float
    tp: int = 0
    fp: int = 0
    fn: int = 0
    p_num: int | None = None
    p_den: int | None = None
    r_num: int | None = None
    r_den: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scores:
        return cls(
            data["precision"], data["recall"], data["f1"], data.get("tp", 0), data.get("fp", 0), data.get("fn", 0),
            data.get("p_num"), data.get("p_den"), data.get("r_num"), data.get("r_den"),
        )  # fmt: skip

    @property
    def is_template(self) -> bool:
        """Counts of the GTT metric (fillers), not of tp/fp/fn."""
        return self.p_den is not None

    @property
    def counted(self) -> bool:
        """Anything was scored in this row (a field no gold or prediction holds has no row)."""
        return bool(self.tp + self.fp + self.fn) or self.is_template


@dataclass(frozen=True)
class FieldScores:
    """The "fields" profile's field counts: over all incidents, over matched pairs only, and per field path."""

    micro: Scores
    matched: Scores | None
    by_field: dict[str, Scores]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldScores:
        matched = data.get("matched")
        by_field = {path: Scores.from_json(counts) for path, counts in _dict(data.get("by_field")).items()}
        return cls(Scores.from_json(data["micro"]), Scores.from_json(matched) if matched else None, by_field)


@dataclass(frozen=True)
class TemplateScores:
    """The GTT metric's counts: micro over all slots, and per slot."""

    micro: Scores
    slots: dict[str, Scores]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TemplateScores:
        slots = {slot: Scores.from_json(counts) for slot, counts in _dict(data.get("slots")).items()}
        return cls(Scores.from_json(data["micro"]), slots)


@dataclass(frozen=True)
class Scored:
    """What a report, its reference section and the run's scores on the reference's documents have in common:
    the flat metrics a gate tracks and the score tables of the profile."""

    metrics: dict[str, float | None]
    incidents: Scores | None = None  # "fields" profile
    fields: FieldScores | None = None  # "fields" profile
    gtt: TemplateScores | None = None  # "gtt" profile

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scored:
        incidents, fields, gtt = data.get("incidents"), data.get("fields"), data.get("gtt")
        return cls(
            dict(_dict(data.get("metrics"))),
            Scores.from_json(incidents) if isinstance(incidents, dict) else None,
            FieldScores.from_json(fields) if isinstance(fields, dict) else None,
            TemplateScores.from_json(gtt) if isinstance(gtt, dict) else None,
        )

    def rows(self) -> dict[str, Scores]:
        """Row name -> counts, in display order: micro and the slots (GTT); incidents, micro, matched and each
        field (fields)."""
        if self.gtt is not None:
            return {"micro": self.gtt.micro, **self.gtt.slots}
        rows: dict[str, Scores] = {}
        if self.incidents is not None:
            rows["incidents"] = self.incidents
        if self.fields is not None:
            rows["micro"] = self.fields.micro
            if self.fields.matched is not None:
                rows["matched"] = self.fields.matched
            rows |= self.fields.by_field
        return rows


@dataclass(frozen=True)
class GroundingRates:
    """How many copied values were found in their texts, and how."""

    values: int
    exact: int
    normalised: int
    fuzzy: int
    not_found: int
    rate: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroundingRates:
        values, exact, normalised, fuzzy, not_found = (
            int(data.get(key) or 0) for key in ("values", "exact", "normalised", "fuzzy", "not_found")
        )
        return cls(values, exact, normalised, fuzzy, not_found, data.get("rate"))


@dataclass(frozen=True)
class Grounding:
    """A run's grounding, overall and by field (from its stored lines)."""

    documents: int
    documents_without: int | None  # ok lines stored before grounding existed
    overall: GroundingRates
    by_field: dict[str, GroundingRates]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grounding:
        by_field = {path: GroundingRates.from_json(row) for path, row in _dict(data.get("by_field")).items()}
        return cls(data.get("documents", 0), data.get("documents_without"), GroundingRates.from_json(data), by_field)


@dataclass(frozen=True)
class SkippedLine:
    line: int
    reason: str


@dataclass(frozen=True)
class RunSection:
    """The scored run: where it is, what made it (from its manifest), its statuses and the lines skipped."""

    path: str
    format: str | None = None  # "template JSON" for another system's predictions
    endpoint: JSON | None = None
    prompt: JSON | None = None
    schema: JSON | None = None
    statuses: dict[str, int] | None = None  # None for template JSON
    not_in_gold: list[str] = field(default_factory=list)
    ok_in_gold: int | None = None  # None in reports older than the count
    skipped_lines: list[SkippedLine] = field(default_factory=list)
    grounding: Grounding | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSection:
        grounding = data.get("grounding")
        return cls(
            str(data.get("path")), data.get("format"), data.get("endpoint"), data.get("prompt"), data.get("schema"),
            data.get("statuses"), list(_list(data.get("not_in_gold"))), data.get("ok_in_gold"),
            [SkippedLine(item["line"], item["reason"]) for item in _list(data.get("skipped_lines"))],
            Grounding.from_json(grounding) if isinstance(grounding, dict) else None,
        )  # fmt: skip

    @property
    def model(self) -> Any:
        return (self.endpoint or {}).get("model")


@dataclass(frozen=True)
class ReferenceSection:
    """The suite's plain reference run scored on the documents this run covered; `skipped` says why it was not."""

    skipped: str | None = None
    path: str | None = None
    prompt: str | None = None
    statuses: dict[str, int] | None = None
    documents_scored: int = 0
    missing: list[str] = field(default_factory=list)  # covered by the run, not by the reference
    scores: Scored = field(default_factory=lambda: Scored({}))
    run_on_same_documents: Scored | None = None  # the run on the shared documents, when they are fewer

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReferenceSection:
        if "skipped" in data:
            return cls(skipped=str(data["skipped"]))
        same = data.get("run_on_same_documents")
        return cls(
            None, data.get("path"), data.get("prompt"), data.get("statuses"), data.get("documents_scored", 0),
            list(_list(data.get("missing"))), Scored.from_json(data),
            Scored.from_json(same) if isinstance(same, dict) else None,
        )  # fmt: skip


@dataclass(frozen=True)
class FusionPart:
    """Fusion of one set of reports scored against the gold events."""

    items: int
    gold_events: int
    predicted_events: int
    pairwise: Scores
    bcubed: Scores
    events: list[list[str]]
    aligned: dict[str, str | None] | None = None  # end to end: each report's aligned gold incident

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FusionPart:
        return cls(
            data["items"], data["gold_events"], data["predicted_events"], Scores.from_json(data["pairwise"]),
            Scores.from_json(data["bcubed"]), [list(members) for members in data["events"]], data.get("aligned"),
        )  # fmt: skip


@dataclass(frozen=True)
class FusionSection:
    """Fusion scored against the suite's gold clusters: of the gold incidents alone, and end to end."""

    skipped: str | None = None
    clusters: str | None = None
    gold: FusionPart | None = None
    e2e: FusionPart | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FusionSection:
        if "skipped" in data:
            return cls(skipped=str(data["skipped"]))
        return cls(None, data.get("clusters"), FusionPart.from_json(data["gold"]), FusionPart.from_json(data["e2e"]))


@dataclass(frozen=True)
class FieldRow:
    """One field of a gold/predicted incident pair (or of a spurious or missed incident) with its verdict."""

    field: str
    gold: Any
    pred: Any
    verdict: str
    tp: int
    fp: int
    fn: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldRow:
        return cls(data["field"], data["gold"], data["pred"], data["verdict"], data["tp"], data["fp"], data["fn"])


def _rows(items: Any) -> list[FieldRow]:
    return [FieldRow.from_json(row) for row in _list(items)]


@dataclass(frozen=True)
class IncidentPair:
    gold_id: str
    pred_index: int
    similarity: float
    fields: list[FieldRow]


@dataclass(frozen=True)
class SpuriousIncident:
    pred_index: int
    fields: list[FieldRow]


@dataclass(frozen=True)
class MissedIncident:
    gold_id: str
    fields: list[FieldRow]


@dataclass(frozen=True)
class FieldDocument:
    """One document under the "fields" profile: its incident counts and each pair's field-by-field diff."""

    doc_id: str
    run_status: str | None
    incidents: Scores
    pairs: list[IncidentPair]
    spurious: list[SpuriousIncident]
    missed: list[MissedIncident]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldDocument:
        return cls(
            data["doc_id"],
            data.get("run_status"),
            Scores.from_json(data["incidents"]),
            [IncidentPair(p["gold_id"], p["pred_index"], p["similarity"], _rows(p["fields"])) for p in data["pairs"]],
            [SpuriousIncident(s["pred_index"], _rows(s["fields"])) for s in _list(data.get("spurious"))],
            [MissedIncident(m["gold_id"], _rows(m["fields"])) for m in _list(data.get("missed"))],
        )


@dataclass(frozen=True)
class Filler:
    """One entity of a template in one role, with whether the other side has it (correct / found)."""

    role: str
    mentions: list[str]
    matched: bool


def _fillers(items: Any, mentions: str, verdict: str) -> list[Filler]:
    return [Filler(item["role"], list(item[mentions]), bool(item[verdict])) for item in _list(items)]


@dataclass(frozen=True)
class TemplatePair:
    pred_index: int
    gold_index: int
    incident_type: tuple[str, str]  # predicted, gold
    predicted: list[Filler]  # matched: correct
    gold: list[Filler]  # matched: found


@dataclass(frozen=True)
class SpuriousTemplate:
    pred_index: int
    incident_type: str
    predicted: list[Filler]


@dataclass(frozen=True)
class MissedTemplate:
    gold_index: int
    incident_type: str
    gold: list[Filler]


@dataclass(frozen=True)
class TemplateDocument:
    """One document under the GTT metric: its filler counts, pairs with their fillers judged, spurious and missed
    templates."""

    doc_id: str
    run_status: str | None
    micro: Scores
    pairs: list[TemplatePair]
    spurious: list[SpuriousTemplate]
    missed: list[MissedTemplate]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TemplateDocument:
        pairs = [
            TemplatePair(p["pred_index"], p["gold_index"], (p["incident_type"][0], p["incident_type"][1]),
                         _fillers(p["predicted"], "pred", "correct"), _fillers(p["gold"], "gold", "found"))
            for p in _list(data.get("pairs"))
        ]  # fmt: skip
        spurious = [
            SpuriousTemplate(s["pred_index"], s["incident_type"], _fillers(s["predicted"], "pred", "correct"))
            for s in _list(data.get("spurious"))
        ]
        missed = [
            MissedTemplate(m["gold_index"], m["incident_type"], _fillers(m["gold"], "gold", "found"))
            for m in _list(data.get("missed"))
        ]
        return cls(data["doc_id"], data.get("run_status"), Scores.from_json(data["micro"]), pairs, spurious, missed)


class ReportFormatError(ValueError):
    """A JSON object that is not an eval report; the message says why (no 'metrics' object, a part's shape)."""


@dataclass(frozen=True, eq=False)
class EvalReport:
    """A scored run: the typed parts readers use, and the JSON object it is stored as (`to_json`)."""

    suite: str
    profile: str  # "fields" or "gtt"
    scope: str
    created_at: str | None
    run: RunSection
    documents_scored: int
    scores: Scored  # metrics and the profile's score tables
    documents: list[FieldDocument | TemplateDocument]
    gold: str | None = None  # "gtt": the gold file scored against
    missing_from_run: list[str] = field(default_factory=list)  # "gtt": gold documents without predictions
    fusion: FusionSection | None = None
    reference: ReferenceSection | None = None
    _json: JSON = field(default_factory=dict, repr=False)

    @property
    def metrics(self) -> dict[str, float | None]:
        """The flat metric names a baseline compares and a gate tracks."""
        return self.scores.metrics

    @property
    def is_template(self) -> bool:
        return self.profile == "gtt"

    @classmethod
    def from_json(cls, data: Any) -> EvalReport:
        """Type a report.json object (of this version or an older one); ReportFormatError when it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            raise ReportFormatError("no 'metrics' object")
        try:
            profile = str(data.get("profile") or "fields")
            parse = TemplateDocument.from_json if profile == "gtt" else FieldDocument.from_json
            fusion, reference = data.get("fusion"), data.get("reference")
            return cls(
                suite=str(data.get("suite")),
                profile=profile,
                scope=str(data.get("scope")),
                created_at=data.get("created_at"),
                run=RunSection.from_json(_dict(data.get("run"))),
                documents_scored=data.get("documents_scored", 0),
                scores=Scored.from_json(data),
                documents=[parse(document) for document in _list(data.get("documents"))],
                gold=data.get("gold"),
                missing_from_run=list(_list(data.get("missing_from_run"))),
                fusion=FusionSection.from_json(fusion) if isinstance(fusion, dict) else None,
                reference=ReferenceSection.from_json(reference) if isinstance(reference, dict) else None,
                _json=data,
            )
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ReportFormatError(f"a part of an unknown shape: {type(exc).__name__} {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> EvalReport:
        """A stored report (report.json, a suite's baseline.json). Raises OSError, UnicodeDecodeError,
        json.JSONDecodeError or ReportFormatError."""
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def to_dict(self) -> JSON:
        """The report as its JSON object (a copy)."""
        return copy.deepcopy(self._json)

    def to_json(self) -> str:
        """report.json's text."""
        return json.dumps(self._json, indent=2, ensure_ascii=False) + "\n"

    def with_section(self, name: str, section: Any) -> EvalReport:
        """The report with a section added (after the others) or replaced (in its place), e.g. "reference"."""
        return EvalReport.from_json({**self._json, name: section})

    # The JSON object read by key: for code outside the package (bench scripts, older tests) that has not moved
    # to the attributes. Read-only: a change goes through with_section.
    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __contains__(self, key: object) -> bool:
        return key in self._json

    def get(self, key: str, default: Any = None) -> Any:
        return self._json.get(key, default)
