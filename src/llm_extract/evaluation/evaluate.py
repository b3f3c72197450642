"""Evaluate a run against a suite's gold: scores, per-document diffs, fusion against gold clusters, and the
baseline gate.

Scoring reads stored records only; it never calls a model. Extraction for an eval goes through the
response cache, so re-running with an unchanged prompt, schema and model costs no model call.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.paths import generic_path
from llm_extract.evaluation.eval_report import EvalReport
from llm_extract.events.clustering import clustering_scores
from llm_extract.events.fusion import fuse, source_incident, source_incidents
from llm_extract.extraction.grounding import FOUND
from llm_extract.runs.runline import RunLine, now_iso
from llm_extract.runs.store import LineProblem, read_manifest, read_run
from llm_extract.scoring import gtt
from llm_extract.scoring.fields import Counts, DocumentScore, FieldResult, Score, ScoringConfig, in_scope, score
from llm_extract.scoring.incidents import SourceIncident
from llm_extract.scoring.suite import Gate, Suite


@dataclass
class RunPredictions:
    """A stored run reduced to what scoring needs."""

    incidents: dict[str, list[dict[str, Any]]]
    statuses: dict[str, str]
    manifest: dict[str, Any] | None
    grounding: dict[str, Any]
    records: list[RunLine] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)  # lines skipped, with their numbers
    warnings: list[str] = field(default_factory=list)  # the same as "file:line: reason" messages


def grounding_summary(lines: list[RunLine]) -> dict[str, Any]:
    """How many copied values the run located in their texts, overall and by field (from stored lines)."""
    ok = [line for line in lines if line.ok]
    recorded = [line for line in ok if line.grounding is not None]
    overall: Counter[str] = Counter()
    by_field: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for line in recorded:
        for span in line.grounding or []:
            overall[span.status] += 1
            by_field[generic_path(span.path)][span.status] += 1

    def rates(counts: Counter[str]) -> dict[str, Any]:
        total = sum(counts.values())
        found = sum(counts[status] for status in FOUND)
        return {"values": total, **{s: counts[s] for s in (*FOUND, "not_found")},
                "rate": round(found / total, 4) if total else None}  # fmt: skip

    return {
        "documents": len(recorded),
        "documents_without": len(ok) - len(recorded),  # runs stored before grounding existed
        **rates(overall),
        "by_field": {path: rates(counts) for path, counts in sorted(by_field.items())},
    }


def load_run(path: Path, list_field: str, shape: dict[str, Any] | None = None) -> RunPredictions:
    """The run's usable lines; a missing, empty or wholly unusable file raises (store.read_run).
    `shape` is the schema's JSON schema: a line whose records do not have its structure is skipped."""
    lines = read_run(path, list_field, shape)
    records = lines.records
    incidents: dict[str, list[dict[str, Any]]] = {line.doc_id: line.records for line in records}
    statuses: dict[str, str] = {line.doc_id: line.status for line in records}
    manifest = read_manifest(path)
    return RunPredictions(
        incidents, statuses, manifest, grounding_summary(records), records, lines.problems, lines.warnings()
    )


def _field_rows(results: list[FieldResult]) -> list[dict[str, Any]]:
    return [
        {"field": r.path, "gold": r.gold, "pred": r.pred, "verdict": r.verdict, "tp": r.counts.tp,
         "fp": r.counts.fp, "fn": r.counts.fn}
        for r in results
    ]  # fmt: skip


def _document_report(document: DocumentScore, status: str | None) -> dict[str, Any]:
    return {
        "doc_id": document.doc_id,
        "run_status": status or "missing from run",
        "incidents": document.incidents.as_dict(),
        "pairs": [
            {
                "gold_id": p.gold_id,
                "pred_index": p.pred_index,
                "similarity": p.similarity,
                "fields": _field_rows(p.fields),
            }
            for p in document.pairs
        ],
        "spurious": [{"pred_index": index, "fields": _field_rows(fields)} for index, fields in document.spurious],
        "missed": [{"gold_id": gold_id, "fields": _field_rows(fields)} for gold_id, fields in document.missed],
    }


def metrics_of(
    incidents: Counts, micro: Counts, by_field: dict[str, Counts], matched: Counts | None = None
) -> dict[str, float]:
    """The flat metric names a baseline compares and a gate can track. `matched`: the field counts over aligned
    pairs only (fields.matched.*), the headline of a suite whose gold codes only some kinds of incident."""
    metrics: dict[str, float] = {}
    parts = [("incidents", incidents), ("fields.micro", micro), *((("fields.matched", matched),) if matched else ())]
    for prefix, counts in parts:
        for name in ("precision", "recall", "f1"):
            metrics[f"{prefix}.{name}"] = round(getattr(counts, name), 4)
    for path, counts in by_field.items():
        if counts.tp + counts.fp + counts.fn:
            metrics[f"field.{path}.f1"] = round(counts.f1, 4)
    return metrics


def _run_section(run_path: Path, run: RunPredictions, gold_ids: set[str]) -> dict[str, Any]:
    manifest = run.manifest or {}
    return {
        "path": str(run_path),
        "endpoint": manifest.get("endpoint"),
        "prompt": manifest.get("prompt"),
        "schema": manifest.get("schema"),
        "statuses": {s: sum(1 for v in run.statuses.values() if v == s) for s in ("ok", "invalid", "error")},
        "not_in_gold": sorted(set(run.statuses) - gold_ids),
        # Gold documents the run answered ok: none means the scores are of nothing (no baseline from it).
        "ok_in_gold": sum(1 for doc_id, status in run.statuses.items() if status == "ok" and doc_id in gold_ids),
        "skipped_lines": [{"line": p.line, "reason": p.reason} for p in run.problems],
        "grounding": run.grounding,
    }


def grounding_metrics(run_section: dict[str, Any]) -> dict[str, float]:
    """grounding.rate, when the run recorded grounding (a gate may track it like any metric)."""
    rate = (run_section.get("grounding") or {}).get("rate")
    return {} if rate is None else {"grounding.rate": rate}


def _is_range(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"range"}


def gold_reading(value: Any) -> Any:
    """A gold value as a perfect extractor would give it: the first listed alternative (the reading the
    labeller codes first, null included), the low end of a number range; list fields item by item."""
    if _is_range(value):
        return value["range"][0]
    if isinstance(value, dict) and set(value) == {"optional"}:  # an optional list element: its reading
        return gold_reading(value["optional"])
    if isinstance(value, dict):
        return {key: gold_reading(item) for key, item in value.items() if key not in {"id", "optional"}}
    if not isinstance(value, list):
        return value
    if value and all(isinstance(item, list) or (isinstance(item, dict) and not _is_range(item)) for item in value):
        return [gold_reading(item) for item in value]  # a list field (weapons; claimed_by's alias lists)
    return gold_reading(value[0]) if value else []


def _fusion_part(reports: list[SourceIncident], gold_event: dict[str, str]) -> dict[str, Any]:
    """Fuse the reports and score the predicted events against the gold events of the same reports."""
    fusion = fuse(reports)
    predicted = {member: number for number, members in enumerate(fusion.clusters) for member in members}
    return {
        "items": len(reports),
        "gold_events": len(set(gold_event.values())),
        "predicted_events": len(fusion.clusters),
        **clustering_scores(predicted, gold_event),
        "events": fusion.clusters,
    }


def fusion_scores(
    suite: Suite,
    config: ScoringConfig,
    gold: dict[str, list[dict[str, Any]]],
    result: Score,
    run: RunPredictions,
) -> dict[str, Any] | None:
    """Fusion scored against the suite's gold clusters: of the gold incidents themselves (fusion alone), and
    of the run's extracted incidents (end to end), each extracted incident standing for the gold incident
    the scorer aligned it with (an unaligned one is an event of its own). None when the suite has no clusters."""
    if suite.clusters_path is None:
        return None
    if not suite.clusters_path.is_file():
        return {"skipped": f"no clusters file at {suite.clusters_path}"}
    clusters = suite.gold_clusters()
    scored = {g.get("id") for items in gold.values() for g in items if in_scope(config, g, is_gold=True)}
    known = {g.get("id") for items in gold.values() for g in items}
    unclustered, unknown = sorted(map(str, scored - clusters.keys())), sorted(clusters.keys() - known)
    if unclustered or unknown:
        return {"skipped": f"{suite.clusters_path} does not match the gold: not clustered {unclustered}, "
                           f"not in the gold {unknown}; give every gold incident one event"}  # fmt: skip
    alone = [
        source_incident(g["id"], doc_id, position, gold_reading(g))
        for doc_id, items in gold.items()
        for position, g in enumerate(items)
        if g["id"] in scored
    ]
    aligned = {f"{d.doc_id}#{pair.pred_index}": pair.gold_id for d in result.documents for pair in d.pairs}
    records = [line for line in run.records if line.doc_id in gold]
    extracted = [
        report for report in source_incidents(records, "the run")[0] if in_scope(config, report.incident, is_gold=False)
    ]

    def gold_event(report_id: str) -> str:
        gold_id = aligned.get(report_id)
        return clusters[gold_id] if gold_id is not None else f"unaligned {report_id}"

    end_to_end = _fusion_part(extracted, {report.id: gold_event(report.id) for report in extracted})
    end_to_end["aligned"] = {report.id: aligned.get(report.id) for report in extracted}
    return {
        "clusters": suite.clusters_path.name,  # in the suite's folder
        "gold": _fusion_part(alone, {report.id: clusters[report.id] for report in alone}),
        "e2e": end_to_end,
    }


def fusion_metrics(section: dict[str, Any] | None) -> dict[str, float]:
    """fusion.{gold,e2e}.{pairwise,bcubed}.{precision,recall,f1}, when the suite scores fusion."""
    if not section or "skipped" in section:
        return {}
    return {
        f"fusion.{part}.{measure}.{name}": section[part][measure][name]
        for part in ("gold", "e2e")
        for measure in ("pairwise", "bcubed")
        for name in ("precision", "recall", "f1")
    }


def evaluate_run(
    suite: Suite,
    run_path: Path,
    list_field: str,
    scope: str | None = None,
    gold_path: Path | None = None,
    shape: dict[str, Any] | None = None,
    only: set[str] | None = None,
) -> EvalReport:
    """Score a stored run against the suite's gold, or against `gold_path` (another split, same format).

    `scope` ('main' or 'all') overrides the suite's, for the "fields" profile. `only`: score these gold
    documents alone (the documents another run covered, so that two runs are compared on the same ones).
    """
    match scope:  # narrows scope to ScoringConfig.scope's values
        case None | "main" | "all":
            pass
        case _:
            raise LLMExtractError(f"scope {scope!r} is not 'main' or 'all'")
    if suite.profile == "gtt":
        return evaluate_templates(suite, run_path, list_field, gold_path, shape, only)
    assert suite.scoring is not None
    config = suite.scoring if scope is None else dataclasses.replace(suite.scoring, scope=scope)
    run = load_run(run_path, list_field, shape)
    gold = suite.gold() if gold_path is None else dataclasses.replace(suite, gold_path=gold_path).gold()
    gold = _restricted(gold, only)
    result = score(config, gold, run.incidents)
    run_section = _run_section(run_path, run, set(gold))
    fusion = fusion_scores(suite, config, gold, result, run)
    report = {
        "suite": suite.name,
        "profile": "fields",
        "scope": config.scope,
        "created_at": now_iso(),
        "run": run_section,
        "documents_scored": len(result.documents),
        "metrics": metrics_of(result.incidents, result.micro, result.fields, result.matched)
        | grounding_metrics(run_section)
        | fusion_metrics(fusion),
        "incidents": result.incidents.as_dict(),
        "fields": {
            "micro": result.micro.as_dict(),
            "matched": result.matched.as_dict(),
            "by_field": {p: c.as_dict() for p, c in result.fields.items()},
        },
        "documents": [_document_report(d, run.statuses.get(d.doc_id)) for d in result.documents],
    }
    if fusion is not None:
        report["fusion"] = fusion
    return EvalReport.from_json(report)


def evaluate_templates(
    suite: Suite,
    path: Path,
    list_field: str,
    gold_path: Path | None = None,
    shape: dict[str, Any] | None = None,
    only: set[str] | None = None,
) -> EvalReport:
    """The "gtt" profile: MUC-4-style templates scored by the published GTT metric.

    `path` is an llm-extract run (JSON Lines) or another system's predictions as one JSON object.
    """
    gold_path = gold_path or suite.gold_path
    gold = _restricted(gtt.load_gold(gold_path), only)
    external = gtt.load_prediction_json(path)
    if external is None:
        run = load_run(path, list_field, shape)
        predictions = {doc_id: gtt.templates_from_records(items) for doc_id, items in run.incidents.items()}
        run_section = _run_section(path, run, set(gold))
    else:
        predictions = external
        known = {gtt.doc_key(doc_id) for doc_id in gold}
        run_section = {
            "path": str(path), "format": "template JSON", "statuses": None,
            "not_in_gold": sorted(d for d in external if gtt.doc_key(d) not in known),
            "ok_in_gold": sum(1 for d in external if gtt.doc_key(d) in known), "skipped_lines": [],
        }  # fmt: skip
    result = gtt.score_corpus(predictions, gold)
    statuses = run.statuses if external is None else {}
    metrics = {f"gtt.micro.{name}": round(getattr(result.micro, name), 4) for name in ("precision", "recall", "f1")}
    metrics |= {f"gtt.{slot}.f1": round(counts.f1, 4) for slot, counts in result.counts.items()}
    metrics |= grounding_metrics(run_section)
    documents = []
    for document in result.documents:
        detail = gtt.explain(document)
        status = statuses.get(document.doc_id) or ("missing from run" if document.doc_id in result.missing else None)
        documents.append({**detail, "run_status": status})
    return EvalReport.from_json(
        {
            "suite": suite.name,
            "profile": "gtt",
            "scope": "all",
            "created_at": now_iso(),
            "gold": str(gold_path),
            "run": run_section,
            "documents_scored": len(result.documents),
            "missing_from_run": result.missing,
            "metrics": metrics,
            "gtt": {"micro": result.micro.as_dict(), "slots": {s: c.as_dict() for s, c in result.counts.items()}},
            "documents": documents,
        }
    )


def _restricted(gold: dict[str, Any], only: set[str] | None) -> dict[str, Any]:
    return gold if only is None else {doc_id: items for doc_id, items in gold.items() if doc_id in only}


def covered_documents(report: EvalReport) -> set[str]:
    """The scored documents the report's run answered (with any status): what a comparison is restricted to."""
    return {d.doc_id for d in report.documents if d.run_status != "missing from run"}


def coverage_warning(report: EvalReport, examples: int = 3) -> str | None:
    """A warning when the run answered only part of the scored gold documents, None when it covered them all.

    A gold document the run never reached scores as if the model found nothing there, so a run of half a suite
    reads as a model twice as bad: the reader must hear it (`eval` prints it with the skipped lines)."""
    missing = [d.doc_id for d in report.documents if d.run_status == "missing from run"]
    if not missing:
        return None
    total = len(report.documents)
    named = ", ".join(missing[:examples]) + (f" and {len(missing) - examples} more" if len(missing) > examples else "")
    return (
        f"{report.run.path} covers {total - len(missing)} of the {total} gold documents of suite {report.suite}: "
        f"the other {len(missing)} ({named}) score as finding nothing; extract them too, or compare runs on the "
        "documents both cover (`eval compare`)"
    )


def reference_section(
    suite: Suite,
    report: EvalReport,
    list_field: str,
    scope: str | None = None,
    gold_path: Path | None = None,
    shape: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The suite's plain reference run scored on the documents `report`'s run covered, for the side-by-side
    columns of every report; None when the suite keeps none, a note when it is not there."""
    path = suite.reference_path
    if path is None:
        return None
    if not path.is_file():
        return {"skipped": f"no reference run at {path}; store one with `llm-extract eval {suite.name} --plain "
                           "--update-reference`"}  # fmt: skip
    covered = covered_documents(report)
    both = covered & set(load_run(path, list_field, shape).statuses)  # the documents the two runs share
    if not both:
        return {"skipped": f"the reference run {path} covers none of this run's documents"}
    scored = evaluate_run(suite, path, list_field, scope, gold_path, shape, only=both)
    tables = scored.to_dict()
    section: dict[str, Any] = {
        "path": str(path),
        "prompt": (scored.run.prompt or {}).get("name"),
        "statuses": scored.run.statuses,
        "documents_scored": len(both),
        "missing": sorted(covered - both),  # covered by the run, not by the reference
        "metrics": tables["metrics"],
        **{key: tables[key] for key in ("incidents", "fields", "gtt") if key in tables},
    }
    if both != covered:  # the reference covers part of the run: the run is scored on the shared part too
        same = evaluate_run(suite, Path(report.run.path), list_field, scope, gold_path, shape, only=both).to_dict()
        section["run_on_same_documents"] = {key: same[key] for key in ("metrics", "incidents", "fields", "gtt")
                                            if key in same}  # fmt: skip
    return section


@dataclass
class Comparison:
    """How a report moved against a baseline, and which tracked metrics fail the gate."""

    moved: list[tuple[str, float | None, float | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def check_gate(report: EvalReport, baseline: EvalReport | None, gate: Gate) -> Comparison:
    comparison = Comparison()
    current = report.metrics
    previous = baseline.metrics if baseline is not None else {}
    for name in sorted(set(current) | set(previous)):
        old, new = previous.get(name), current.get(name)
        if baseline is not None and old != new:
            comparison.moved.append((name, old, new))
    for name, threshold in sorted(gate.thresholds.items()):
        value = current.get(name)
        if value is None:
            comparison.failures.append(f"{name}: tracked but not in the report")
            continue
        if value < threshold:
            comparison.failures.append(f"{name} = {value:.4f} is under its threshold {threshold:.4f}")
        old = previous.get(name)
        if old is not None and value < old - gate.tolerance:
            comparison.failures.append(
                f"{name} dropped from {old:.4f} to {value:.4f} (more than the tolerance {gate.tolerance:.4f})"
            )
    return comparison
