"""The comparison page: two runs of one suite side by side, document by document, as one self-contained HTML file.

An index of the documents (their scores, the change, status changes) links to one section per document, where each
gold incident sits on one line with the record each run aligned to it, every scored value shown as text, marked
with the scorer's verdict, and a differing value highlighted. Jinja's autoescape escapes every value (records and
document ids come from a model and from articles); the page loads nothing.
"""

from __future__ import annotations

import json
from typing import Any

from llm_extract.evaluation.compare import AlignedIncident, DocumentComparison, FieldLine, Headline, RunComparison, Side
from llm_extract.evaluation.eval_report import EvalReport
from llm_extract.review.labels import field_label, value_text
from llm_extract.review.page import template_environment

MARKS = {"correct": "✓", "partial": "½", "wrong": "✗", "spurious": "+", "missed": "−", "empty": ""}


def _cell(line: FieldLine, side: str) -> dict[str, Any]:
    verdict = line.a_verdict if side == "a" else line.b_verdict
    value = line.a if side == "a" else line.b
    return {"text": "" if verdict is None else value_text(value, line.many), "verdict": verdict or "none",
            "mark": MARKS.get(verdict or "", "")}  # fmt: skip


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _side(side: Side | None) -> dict[str, Any] | None:
    if side is None:
        return None
    records = None if side.records is None else json.dumps(side.records, indent=2, ensure_ascii=False)
    incidents_f1 = None if side.incidents_f1 is None else _score(side.incidents_f1)
    return {"status": side.status, "score": _score(side.score), "incidents_f1": incidents_f1, "error": side.error,
            "records": records, "last_output": side.last_output}  # fmt: skip


def _incident(incident: AlignedIncident) -> dict[str, Any]:
    lines = [
        {"field": line.field, "label": field_label(line.field),
         "gold": value_text(line.gold, line.many) if incident.gold else "",
         "a": _cell(line, "a"), "b": _cell(line, "b"), "differs": line.differs}
        for line in incident.fields
    ]  # fmt: skip
    return {"gold": incident.gold, "a_index": incident.a_index, "b_index": incident.b_index,
            "differs": incident.differs, "lines": lines}  # fmt: skip


def _document(number: int, document: DocumentComparison) -> dict[str, Any]:
    return {
        "anchor": f"doc-{number}", "doc_id": document.doc_id, "change": document.change,
        "delta": _delta(document.delta), "status_changed": document.status_changed,
        "records_differ": document.records_differ, "a": _side(document.a), "b": _side(document.b),
        "incidents": [_incident(incident) for incident in document.incidents],
    }  # fmt: skip


def _headlines(title: str, rows: list[Headline] | None) -> list[tuple[str, str, str, str, str]]:
    return [(h.metric, _score(h.a), _score(h.b), _delta(h.delta), title) for h in rows or []]


def page_data(comparison: RunComparison) -> dict[str, Any]:
    """What the template shows, every value already text (the template only lays it out)."""
    return {
        "comparison": comparison,
        "summary": comparison.summary,
        "mean_delta": _delta(comparison.summary.mean_delta),
        "runs": [_run_label(comparison.report_a), _run_label(comparison.report_b)],
        "headlines": _headlines("whole suite", comparison.overall)
        + _headlines("documents both runs answered", comparison.overall_shared),
        "documents": [_document(number, document) for number, document in enumerate(comparison.shown)],
        "hidden": len(comparison.documents) - len(comparison.shown),
    }


def _run_label(report: EvalReport) -> dict[str, Any]:
    prompt = (report.run.prompt or {}).get("name")
    return {"path": report.run.path, "model": report.run.model, "prompt": prompt, "statuses": report.run.statuses}


def render_compare(comparison: RunComparison) -> str:
    """The comparison page's HTML."""
    return template_environment().get_template("compare.html.j2").render(page=page_data(comparison))
