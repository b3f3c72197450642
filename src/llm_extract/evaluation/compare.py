"""Two stored runs of one suite compared document by document: which documents got better or worse, and how their
records differ, next to the gold.

`eval --baseline` says which aggregate metrics moved; this says where. Both runs are scored by the suite's own
scorer (`evaluate_run`, the numbers of `llm-extract eval --run`), no model is called, and each run's incidents are
lined up through the gold incident the scorer aligned them with, so the two runs' values for the same gold incident
sit on one line. The per-document score is the suite's headline: the document's field F1 (micro over its scored
fields) under the "fields" profile, with its incident F1 beside it; the GTT F1 under "gtt".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any, Literal, TypeVar

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.metrics import Counts
from llm_extract.evaluation.eval_report import (
    EvalReport,
    FieldDocument,
    FieldRow,
    Filler,
    TemplateDocument,
)
from llm_extract.evaluation.evaluate import coverage_warning, covered_documents, evaluate_run
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.runs.runline import RunLine
from llm_extract.runs.store import read_run
from llm_extract.scoring.gtt import ROLES, SlotCounts, doc_key
from llm_extract.scoring.suite import Suite, load_suite

T = TypeVar("T")
Change = Literal["worse", "better", "same", "only in A", "only in B"]
# The aggregate metrics a comparison shows, per profile (every metric of both runs is in their reports).
HEADLINES = {
    "fields": ("incidents.f1", "fields.micro.precision", "fields.micro.recall", "fields.micro.f1", "fields.matched.f1"),
    "gtt": ("gtt.micro.precision", "gtt.micro.recall", "gtt.micro.f1"),
}


@dataclass(frozen=True)
class Side:
    """One run's answer for one document, and its score there."""

    status: str  # ok, invalid or error
    records: list[dict[str, Any]] | None  # the schema's records; None when the line holds none (invalid, error)
    error: str | None
    last_output: str | None  # the model's last rejected answer (an invalid line)
    score: float  # the headline: field F1 ("fields"), GTT F1 ("gtt")
    incidents_f1: float | None  # "fields" only


@dataclass(frozen=True)
class FieldLine:
    """One scored field (a GTT role) of one aligned incident: the gold's value and each run's, with the scorer's
    verdict (correct, partial, wrong, spurious, missed, empty). A run without an incident on this line has None."""

    field: str
    gold: Any  # as the scorer read it: alternatives, ranges; None when no gold incident is on the line
    a: Any
    b: Any
    a_verdict: str | None
    b_verdict: str | None
    many: bool  # a list field (its value a list of items, each maybe a list of accepted spellings)

    @property
    def differs(self) -> bool:
        return self.a != self.b


@dataclass(frozen=True)
class AlignedIncident:
    """A gold incident (template) with the record each run's scorer aligned to it, or a record no gold incident
    took (`gold` None): one of A's, one of B's, or one each when both runs made the same one."""

    gold: str | None  # the gold incident's id ("fields") or "template N" (1-based, "gtt")
    a_index: int | None  # the position of A's record in its line; None: A has no record here
    b_index: int | None
    fields: list[FieldLine]

    @property
    def differs(self) -> bool:
        return any(line.differs for line in self.fields)


@dataclass(frozen=True)
class DocumentComparison:
    """One gold document as the two runs answered it. A side is None when that run has no line for it."""

    doc_id: str
    a: Side | None
    b: Side | None
    incidents: list[AlignedIncident]

    @property
    def delta(self) -> float | None:
        """B's score minus A's; None when one run lacks the document (its score there would be of nothing)."""
        return None if self.a is None or self.b is None else self.b.score - self.a.score

    @property
    def change(self) -> Change:
        delta = self.delta
        if delta is None:
            return "only in A" if self.b is None else "only in B"
        return "worse" if delta < 0 else "better" if delta > 0 else "same"

    @property
    def status_changed(self) -> bool:
        return self.a is not None and self.b is not None and self.a.status != self.b.status

    @property
    def records_differ(self) -> bool:
        """The two lines hold different records (their order aside), or one run lacks the document."""
        if self.a is None or self.b is None:
            return True
        return _canonical(self.a.records) != _canonical(self.b.records)

    @property
    def differs(self) -> bool:
        """What "only different" keeps: records, status or score differ, or one run lacks the document."""
        return self.change != "same" or self.status_changed or self.records_differ


@dataclass(frozen=True)
class Headline:
    """One aggregate metric of both runs."""

    metric: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else round(self.b - self.a, 4)


@dataclass(frozen=True)
class Summary:
    """How the documents both runs answered moved, and how many only one run answered."""

    better: int
    worse: int
    same: int
    only_a: int
    only_b: int
    status_changes: int
    mean_delta: float | None  # over the documents both runs answered


@dataclass(frozen=True)
class RunComparison:
    """Two runs of one suite compared. `documents` holds every gold document either run answered, regressions
    first (the largest drop first), then improvements (the largest gain first), then unchanged documents, then
    documents only one run answered; `shown` is what to display (all, or only the different ones)."""

    suite: str
    profile: str  # "fields" or "gtt"
    score_name: str  # what a document's score is: "field F1" or "GTT F1"
    report_a: EvalReport  # each run scored on the whole suite, as `llm-extract eval --run` scores it
    report_b: EvalReport
    documents: list[DocumentComparison]
    overall: list[Headline]  # on the whole suite
    overall_shared: list[Headline] | None  # on the documents both runs answered, when that is not the whole suite
    unanswered: int  # gold documents neither run answered (not listed)
    only_different: bool
    warnings: list[str]  # lines skipped, partial coverage, documents outside the gold: print them

    @property
    def shown(self) -> list[DocumentComparison]:
        return [d for d in self.documents if d.differs] if self.only_different else self.documents

    @property
    def summary(self) -> Summary:
        changes = [d.change for d in self.documents]
        deltas = [d.delta for d in self.documents if d.delta is not None]
        return Summary(
            changes.count("better"), changes.count("worse"), changes.count("same"), changes.count("only in A"),
            changes.count("only in B"), sum(d.status_changed for d in self.documents),
            fmean(deltas) if deltas else None,
        )  # fmt: skip


def _canonical(records: list[dict[str, Any]] | None) -> list[str] | None:
    return None if records is None else sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in records)


def _field_score(document: FieldDocument) -> tuple[float, float]:
    """The document's field F1 (every scored field of its pairs, spurious and missed incidents: the counts its
    report's micro sums) and incident F1, exact rather than the report's rounding."""
    rows = [*(r for p in document.pairs for r in p.fields), *(r for s in document.spurious for r in s.fields),
            *(r for m in document.missed for r in m.fields)]  # fmt: skip
    fields = Counts(sum(r.tp for r in rows), sum(r.fp for r in rows), sum(r.fn for r in rows))
    incidents = Counts(document.incidents.tp, document.incidents.fp, document.incidents.fn)
    return fields.f1, incidents.f1


def _template_score(document: TemplateDocument) -> float:
    micro = document.micro
    return SlotCounts(micro.p_num or 0, micro.p_den or 0, micro.r_num or 0, micro.r_den or 0).f1


def _side(line: RunLine | None, document: FieldDocument | TemplateDocument) -> Side | None:
    if line is None:
        return None
    if isinstance(document, TemplateDocument):
        return Side(line.status, line.items, line.error, line.last_output, _template_score(document), None)
    fields_f1, incidents_f1 = _field_score(document)
    return Side(line.status, line.items, line.error, line.last_output, fields_f1, incidents_f1)


# ---- lining up the two runs' incidents through the gold ("fields" profile)


def _gold_rows(document: FieldDocument | None) -> dict[str, tuple[int | None, list[FieldRow]]]:
    """gold id -> (the run's aligned record or None when missed, the field rows)."""
    if document is None:
        return {}
    rows: dict[str, tuple[int | None, list[FieldRow]]] = {p.gold_id: (p.pred_index, p.fields) for p in document.pairs}
    rows |= {m.gold_id: (None, m.fields) for m in document.missed}
    return rows


def _field_lines(
    a: Sequence[FieldRow] | None, b: Sequence[FieldRow] | None, a_has: bool, b_has: bool
) -> list[FieldLine]:
    """The rows of one incident in both runs, field by field; a field empty everywhere is left out. `a_has`: A
    holds a record on this line (else its value is None and its verdict says what the scorer made of the gold)."""
    a_rows = {r.field: r for r in a or []}
    b_rows = {r.field: r for r in b or []}
    lines = []
    for name in dict.fromkeys([*a_rows, *b_rows]):
        ra, rb = a_rows.get(name), b_rows.get(name)
        if all(row is None or row.verdict == "empty" for row in (ra, rb)):
            continue
        either = ra if ra is not None else rb
        assert either is not None  # the name came from one of them
        value_a = ra.pred if ra is not None and a_has else None
        value_b = rb.pred if rb is not None and b_has else None
        verdict_a, verdict_b = (None if row is None else row.verdict for row in (ra, rb))
        lines.append(FieldLine(name, either.gold, value_a, value_b, verdict_a, verdict_b, "[]" in name))
    return lines


def _spurious_lines(
    a: Iterable[tuple[int, list[FieldRow]]], b: Iterable[tuple[int, list[FieldRow]]]
) -> list[AlignedIncident]:
    """Records no gold incident took: one of A's and one of B's share a line when their scored values agree."""
    lines: list[AlignedIncident] = []
    left = list(b)
    for a_index, a_rows in a:
        values = [(r.field, r.pred) for r in a_rows]
        twin = next((item for item in left if [(r.field, r.pred) for r in item[1]] == values), None)
        if twin is not None:
            left.remove(twin)
        b_index, b_rows = twin if twin is not None else (None, None)
        lines.append(AlignedIncident(None, a_index, b_index, _field_lines(a_rows, b_rows, True, twin is not None)))
    lines += [AlignedIncident(None, None, index, _field_lines(None, rows, False, True)) for index, rows in left]
    return lines


def _field_incidents(a: FieldDocument | None, b: FieldDocument | None, gold_ids: list[str]) -> list[AlignedIncident]:
    a_gold, b_gold = _gold_rows(a), _gold_rows(b)
    order = {gold_id: position for position, gold_id in enumerate(gold_ids)}
    incidents = []
    for gold_id in sorted(a_gold.keys() | b_gold.keys(), key=lambda g: (order.get(g, len(order)), g)):
        a_index, a_rows = a_gold.get(gold_id, (None, None))
        b_index, b_rows = b_gold.get(gold_id, (None, None))
        lines = _field_lines(a_rows, b_rows, a_index is not None, b_index is not None)
        incidents.append(AlignedIncident(gold_id, a_index, b_index, lines))
    spurious_a = [(s.pred_index, s.fields) for s in a.spurious] if a is not None else []
    spurious_b = [(s.pred_index, s.fields) for s in b.spurious] if b is not None else []
    return incidents + _spurious_lines(spurious_a, spurious_b)


# ---- the same for templates ("gtt" profile)


def _role_verdict(predicted: list[Filler], gold: list[Filler]) -> str:
    right, found = sum(f.matched for f in predicted), sum(f.matched for f in gold)
    if not predicted and not gold:
        return "empty"
    if not predicted:
        return "missed"
    if not gold:
        return "spurious"
    if right == len(predicted) and found == len(gold):
        return "correct"
    return "partial" if right or found else "wrong"


@dataclass(frozen=True)
class _Template:
    """One run's view of one template line: its incident type and, per role, its fillers and the gold's."""

    index: int | None  # the run's template; None when the run missed the gold template
    incident_type: str | None
    gold_type: str | None
    predicted: list[Filler]
    gold: list[Filler]


def _template_lines(a: _Template | None, b: _Template | None) -> list[FieldLine]:
    def mentions(fillers: list[Filler], role: str) -> list[list[str]]:
        return sorted(f.mentions for f in fillers if f.role == role)

    def typed(side: _Template | None) -> tuple[str | None, str | None]:
        if side is None:
            return None, None
        if side.index is None:
            return None, "missed"
        return side.incident_type, ("spurious" if side.gold_type is None else "correct")  # a pair's types agree

    def role_line(role: str) -> FieldLine:
        values, verdicts = [], []
        for side in (a, b):
            predicted = [] if side is None else [f for f in side.predicted if f.role == role]
            gold = [] if side is None else [f for f in side.gold if f.role == role]
            values.append(None if side is None or side.index is None else mentions(predicted, role))
            verdicts.append(None if side is None else _role_verdict(predicted, gold))
        gold_mentions = mentions(gold_side.gold, role) if gold_side is not None else []
        return FieldLine(role, gold_mentions or None, values[0], values[1], verdicts[0], verdicts[1], True)

    gold_side = a if a is not None and a.gold_type is not None else b
    gold_type = gold_side.gold_type if gold_side is not None else None
    (type_a, verdict_a), (type_b, verdict_b) = typed(a), typed(b)
    lines = [FieldLine("incident_type", gold_type, type_a, type_b, verdict_a, verdict_b, False)]
    lines += [line for line in map(role_line, ROLES) if {line.a_verdict, line.b_verdict} - {None, "empty"}]
    return lines


def _templates(document: TemplateDocument | None) -> tuple[dict[int, _Template], list[_Template]]:
    """gold index -> the run's view of that gold template; and the run's templates no gold template took."""
    if document is None:
        return {}, []
    gold = {p.gold_index: _Template(p.pred_index, p.incident_type[0], p.incident_type[1], p.predicted, p.gold)
            for p in document.pairs}  # fmt: skip
    gold |= {m.gold_index: _Template(None, None, m.incident_type, [], m.gold) for m in document.missed}
    spurious = [_Template(s.pred_index, s.incident_type, None, s.predicted, []) for s in document.spurious]
    return gold, spurious


def _template_incidents(a: TemplateDocument | None, b: TemplateDocument | None) -> list[AlignedIncident]:
    a_gold, a_spurious = _templates(a)
    b_gold, b_spurious = _templates(b)
    incidents = []
    for index in sorted(a_gold.keys() | b_gold.keys()):
        left, right = a_gold.get(index), b_gold.get(index)
        incidents.append(AlignedIncident(f"template {index + 1}", left.index if left else None,
                                         right.index if right else None, _template_lines(left, right)))  # fmt: skip
    incidents += [AlignedIncident(None, t.index, None, _template_lines(t, None)) for t in a_spurious]
    incidents += [AlignedIncident(None, None, t.index, _template_lines(None, t)) for t in b_spurious]
    return incidents


# ---- the comparison


def _order(document: DocumentComparison) -> tuple[int, float, bool, bool, str]:
    group = {"worse": 0, "better": 1, "same": 2, "only in A": 3, "only in B": 4}[document.change]
    delta = document.delta or 0.0
    return group, -abs(delta), not document.status_changed, not document.records_differ, document.doc_id


def _headlines(profile: str, a: EvalReport, b: EvalReport) -> list[Headline]:
    return [Headline(name, a.metrics.get(name), b.metrics.get(name)) for name in HEADLINES[profile]]


def _lines(
    path: Path, list_field: str, shape: dict[str, Any], key: Callable[[str], str]
) -> tuple[dict[str, RunLine], list[str]]:
    """The run's lines by document (`key`: the gold's id for it), and the warnings for lines it could not use."""
    lines = read_run(path, list_field, shape)
    return {key(line.doc_id): line for line in lines.records}, lines.warnings()


def _of(kind: type[T], document: object) -> T | None:
    return document if isinstance(document, kind) else None


def compare_runs(run_a: Path, run_b: Path, suite: str | Path | Suite, *, only_different: bool = False) -> RunComparison:
    """Score both runs against the suite's gold and line them up document by document (no model is called).

    Missing or unreadable runs and suites raise LLMExtractError naming the file; lines a run could not use are
    skipped and named in `warnings`, with a run that covers only part of the suite and documents outside the gold.
    """
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    spec = load_schema(suite.schema)
    shape = spec.json_schema
    report_a = evaluate_run(suite, Path(run_a), spec.list_field, shape=shape)
    report_b = evaluate_run(suite, Path(run_b), spec.list_field, shape=shape)
    if report_a.run.format is not None or report_b.run.format is not None:
        raise LLMExtractError("eval compare reads llm-extract runs (JSONL), not another system's template JSON")
    key = doc_key if suite.profile == "gtt" else str  # GTT's '10001' and 'TST1-MUC3-0001' are one document
    lines_a, warnings_a = _lines(Path(run_a), spec.list_field, shape, key)
    lines_b, warnings_b = _lines(Path(run_b), spec.list_field, shape, key)
    warnings = [*warnings_a, *warnings_b]
    for name, report in (("A", report_a), ("B", report_b)):
        partial = coverage_warning(report)
        warnings += [f"run {name}: {partial}"] if partial else []
        if report.run.not_in_gold:
            outside = report.run.not_in_gold
            warnings.append(f"run {name} ({report.run.path}) answered {len(outside)} documents the gold of suite "
                            f"{suite.name} lacks, not compared: {', '.join(outside[:3])}"
                            + (f" and {len(outside) - 3} more" if len(outside) > 3 else ""))  # fmt: skip
    gold_ids = {doc_id: [str(g.get("id")) for g in items] for doc_id, items in suite.gold().items()} \
        if suite.profile == "fields" else {}  # fmt: skip
    scored_b = {document.doc_id: document for document in report_b.documents}
    documents = []
    for doc_a in report_a.documents:  # the same gold documents, both scored on the whole suite
        doc_b = scored_b[doc_a.doc_id]
        line_a, line_b = lines_a.get(key(doc_a.doc_id)), lines_b.get(key(doc_a.doc_id))
        if line_a is None and line_b is None:
            continue
        present_a, present_b = (doc_a if line_a else None), (doc_b if line_b else None)
        if suite.profile == "gtt":
            incidents = _template_incidents(_of(TemplateDocument, present_a), _of(TemplateDocument, present_b))
        else:
            gold = gold_ids.get(doc_a.doc_id, [])
            incidents = _field_incidents(_of(FieldDocument, present_a), _of(FieldDocument, present_b), gold)
        documents.append(DocumentComparison(doc_a.doc_id, _side(line_a, doc_a), _side(line_b, doc_b), incidents))
    documents.sort(key=_order)
    shared = covered_documents(report_a) & covered_documents(report_b)
    overall_shared = None
    if not shared:
        warnings.append(f"the two runs answered no gold document of suite {suite.name} in common: no delta to show")
    elif shared != {d.doc_id for d in report_a.documents}:
        shared_a, shared_b = (evaluate_run(suite, Path(run), spec.list_field, shape=shape, only=shared)
                              for run in (run_a, run_b))  # fmt: skip
        overall_shared = _headlines(suite.profile, shared_a, shared_b)
    return RunComparison(
        suite=suite.name, profile=suite.profile, score_name="GTT F1" if suite.profile == "gtt" else "field F1",
        report_a=report_a, report_b=report_b, documents=documents,
        overall=_headlines(suite.profile, report_a, report_b), overall_shared=overall_shared,
        unanswered=len(report_a.documents) - len(documents), only_different=only_different, warnings=warnings,
    )  # fmt: skip
