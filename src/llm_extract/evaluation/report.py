"""Eval reports as Markdown: headline scores, the per-field table, the baseline diff, per-document diffs."""

from __future__ import annotations

import json
from typing import Any

from llm_extract.evaluation.eval_report import (
    EvalReport,
    FieldDocument,
    FieldRow,
    Filler,
    ReferenceSection,
    Scored,
    Scores,
    TemplateDocument,
)
from llm_extract.evaluation.evaluate import Comparison

VERDICT_MARK = {"correct": "✓", "partial": "½", "wrong": "✗", "spurious": "+", "missed": "−", "empty": ""}


def _cell(value: Any) -> str:
    if value is None:
        return "∅"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")[:80]


def _counts_row(name: str, counts: Scores) -> str:
    return (
        f"| {name} | {counts.precision:.3f} | {counts.recall:.3f} | {counts.f1:.3f} "
        f"| {counts.tp} | {counts.fp} | {counts.fn} |"
    )


def headline_table(report: EvalReport) -> list[str]:
    lines = ["| metric | precision | recall | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|"]
    fields, incidents = report.scores.fields, report.scores.incidents
    assert fields is not None and incidents is not None  # the "fields" profile
    lines.append(_counts_row("incidents", incidents))
    lines.append(_counts_row("fields (micro)", fields.micro))
    if fields.matched is not None:
        lines.append(_counts_row("fields (matched incidents)", fields.matched))
    return lines


def field_table(report: EvalReport) -> list[str]:
    lines = ["| field | precision | recall | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|"]
    assert report.scores.fields is not None  # the "fields" profile
    for path, counts in report.scores.fields.by_field.items():
        if counts.tp + counts.fp + counts.fn:
            lines.append(_counts_row(f"`{path}`", counts))
    return lines


def _diff_rows(fields: list[FieldRow]) -> list[str]:
    return [
        f"| `{f.field}` | {_cell(f.gold)} | {_cell(f.pred)} | {VERDICT_MARK[f.verdict]} {f.verdict} |"
        for f in fields
        if f.verdict != "empty"
    ]


def document_section(document: FieldDocument) -> list[str]:
    counts = document.incidents
    lines = [
        f"### {document.doc_id}",
        "",
        f"Run status: {document.run_status}. Incidents: {counts.tp} matched, {counts.fp} spurious, {counts.fn} missed.",
        "",
    ]
    header = ["| field | gold | predicted | verdict |", "|---|---|---|---|"]
    for pair in document.pairs:
        lines += [f"**gold {pair.gold_id} ↔ predicted #{pair.pred_index}** (similarity {pair.similarity:.2f})"]
        lines += ["", *header, *_diff_rows(pair.fields), ""]
    for spurious in document.spurious:
        lines += [f"**spurious: predicted #{spurious.pred_index}** (no gold incident matches)", ""]
        lines += [*header, *_diff_rows(spurious.fields), ""]
    for missed in document.missed:
        lines += [f"**missed: gold {missed.gold_id}** (no prediction matches)", ""]
        lines += [*header, *_diff_rows(missed.fields), ""]
    return lines


def _percent(rate: float | None) -> str:
    return format(rate, ".1%") if rate is not None else str(rate)


def grounding_section(report: EvalReport) -> list[str]:
    """How many copied values were found in their texts, by field (from the run's stored grounding)."""
    summary = report.run.grounding
    if summary is None:
        return []  # another system's predictions: nothing to ground
    overall = summary.overall
    if not overall.values:
        without = summary.documents_without
        return ["## Grounding", "", f"Not recorded in this run ({without} documents stored without it).", ""]
    lines = [
        "## Grounding",
        "",
        f"{_percent(overall.rate)} of {overall.values} copied values were found in their text "
        f"({overall.exact} exact, {overall.normalised} after case/quote/space folding, "
        f"{overall.fuzzy} fuzzy, {overall.not_found} not found).",
        "",
        "| field | values | exact | normalised | fuzzy | not found | rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for path, row in summary.by_field.items():
        lines.append(
            f"| `{path}` | {row.values} | {row.exact} | {row.normalised} | {row.fuzzy} "
            f"| {row.not_found} | {_percent(row.rate)} |"
        )
    return [*lines, ""]


def _events_list(events: list[list[str]], label: dict[str, str | None] | None = None) -> list[str]:
    merged = [members for members in events if len(members) > 1]
    if not merged:
        return ["- none"]
    if label is None:
        return ["- " + ", ".join(members) for members in merged]
    return [
        "- " + ", ".join(f"{member} ({label.get(member) or 'unaligned'})" for member in members) for members in merged
    ]


def fusion_section(report: EvalReport) -> list[str]:
    """Fusion scored against the suite's gold clusters: on gold incidents alone, and end to end."""
    section = report.fusion
    if section is None:
        return []
    lines = ["## Fusion (cross-article)", ""]
    if section.skipped is not None:
        return [*lines, f"Not scored: {section.skipped}.", ""]
    assert section.gold is not None and section.e2e is not None
    lines += [
        f"Reports of one real-world event in different articles, grouped by `llm-extract fuse` and scored against "
        f"the suite's gold clusters (`{section.clusters}`). Fusion alone fuses the gold incidents themselves (their "
        "first listed reading); end to end fuses the extracted incidents, each standing for the gold incident the "
        "scorer aligned it with (an unaligned one is an event of its own).",
        "",
        "| fused | items | gold events | predicted events | pairs P | pairs R | pairs F1 | B³ P | B³ R | B³ F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, part in (
        ("fusion alone (gold incidents)", section.gold),
        ("end to end (extracted incidents)", section.e2e),
    ):
        scores = [part.pairwise.precision, part.pairwise.recall, part.pairwise.f1]
        scores += [part.bcubed.precision, part.bcubed.recall, part.bcubed.f1]
        lines.append(f"| {name} | {part.items} | {part.gold_events} | {part.predicted_events} | "
                     + " | ".join(f"{value:.3f}" for value in scores) + " |")  # fmt: skip
    lines += ["", "Events of more than one report, fusing the gold incidents:", ""]
    lines += _events_list(section.gold.events)
    lines += [
        "",
        "Events of more than one report, end to end (each report with the gold incident it was aligned with):",
    ]
    lines += ["", *_events_list(section.e2e.events, section.e2e.aligned), ""]
    return lines


def score_rows(scores: EvalReport | ReferenceSection | Scored) -> dict[str, Scores]:
    """Row name -> counts, for a report or its reference section (either profile), in display order."""
    return (scores if isinstance(scores, Scored) else scores.scores).rows()


def scored_reference(report: EvalReport) -> ReferenceSection | None:
    """The report's plain reference section when it was scored (None when there is none, or it was skipped)."""
    section = report.reference
    return None if section is None or section.skipped is not None else section


def plain_scores(report: EvalReport) -> tuple[dict[str, Scores], dict[str, Scores]] | None:
    """The plain reference's counts by row (incidents, micro, each field or slot), and the run's own on the same
    documents (all of the run's, unless the reference covers only part); None without a scored reference."""
    section = scored_reference(report)
    if section is None:
        return None
    return score_rows(section), score_rows(section.run_on_same_documents or report)


def reference_markdown(report: EvalReport) -> list[str]:
    """This run beside the suite's plain reference run, row by row, on the same documents."""
    section = report.reference
    if section is None:
        return []
    lines = ["## Beside the plain reference", ""]
    if section.skipped is not None:
        return [*lines, f"Not scored: {section.skipped}.", ""]
    missing = section.missing
    partial = (
        f" It does not cover {len(missing)} of this run's documents ({', '.join(missing[:10])}"
        f"{', ...' if len(missing) > 10 else ''}): the run's columns here are its scores on the shared ones alone."
        if missing
        else ""
    )
    lines += [
        f"The plain reference is the suite's stored run of prompt `{section.prompt}` (the schema filled by a plain "
        f"instructor call: one-paragraph prompt, no plan, no checks, no re-asks), `{section.path}`, scored on the "
        f"same {section.documents_scored} documents; its statuses: {section.statuses}.{partial}",
        "",
        "| row | P | R | F1 | plain P | plain R | plain F1 | Δ F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    plain, ours = plain_scores(report) or ({}, {})
    for name, c in ours.items():
        p = plain.get(name)
        if not c.counted:
            continue
        theirs = f"{p.precision:.3f} | {p.recall:.3f} | {p.f1:.3f} | {c.f1 - p.f1:+.3f}" if p else "– | – | – |"
        lines.append(f"| {name} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {theirs} |")
    return [*lines, ""]


def skipped_lines(report: EvalReport) -> list[str]:
    """The run lines the reader could not use: a score over fewer documents than the run holds says so."""
    skipped = report.run.skipped_lines
    if not skipped:
        return []
    listed = "; ".join(f"line {item.line}: {item.reason}" for item in skipped[:20])
    more = f"; and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    return [f"**{len(skipped)} run lines skipped** (malformed): {listed}{more}.", ""]


def describe_change(old: float | None, new: float | None) -> str:
    """How a metric moved against the baseline: a signed difference, or that it is new or gone."""
    if old is not None and new is not None:
        return f"{new - old:+.4f}"
    return "new" if old is None else "gone"


def comparison_section(comparison: Comparison) -> list[str]:
    lines = ["## Against the baseline", ""]
    if not comparison.moved:
        lines.append("No metric moved.")
    else:
        lines += ["| metric | baseline | now | change |", "|---|---|---|---|"]
        for name, old, new in comparison.moved:
            lines.append(f"| `{name}` | {_cell(old)} | {_cell(new)} | {describe_change(old, new)} |")
    lines += ["", "Gate: " + ("**passed**" if comparison.passed else "**FAILED**"), ""]
    lines += [f"- {failure}" for failure in comparison.failures]
    return lines


def _slot_row(name: str, c: Scores) -> str:
    return f"| {name} | {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} | {c.p_num}/{c.p_den} | {c.r_num}/{c.r_den} |"


def _mentions(entity: list[str]) -> str:
    return " / ".join(_cell(m) for m in entity)


def _judged(filler: Filler) -> str:
    return f"- {'✓' if filler.matched else '✗'} {filler.role}: {_mentions(filler.mentions)}"


def template_section(document: TemplateDocument) -> list[str]:
    """One document under the GTT metric: pairs with their fillers judged, then spurious and missed templates."""
    micro = document.micro
    lines = [
        f"### {document.doc_id}",
        "",
        f"Run status: {document.run_status or 'n/a'}. Correct {micro.p_num} of {micro.p_den} predicted "
        f"fillers; found {micro.r_num} of {micro.r_den} gold fillers (incident types included).",
        "",
    ]
    for pair in document.pairs:
        pred_type, gold_type = pair.incident_type
        lines += [f"**predicted #{pair.pred_index} ({pred_type}) ↔ gold #{pair.gold_index} ({gold_type})**", ""]
        lines += [_judged(f) for f in pair.predicted]
        lines += [f"- − missed {g.role}: {_mentions(g.mentions)}" for g in pair.gold if not g.matched]
        lines.append("")
    for spurious in document.spurious:
        lines += [f"**spurious: predicted #{spurious.pred_index} ({spurious.incident_type})**", ""]
        lines += [f"- + {f.role}: {_mentions(f.mentions)}" for f in spurious.predicted]
        lines.append("")
    for missed in document.missed:
        lines += [f"**missed: gold #{missed.gold_index} ({missed.incident_type})**", ""]
        lines += [f"- − {g.role}: {_mentions(g.mentions)}" for g in missed.gold]
        lines.append("")
    return lines


def _made_by(report: EvalReport) -> tuple[dict[str, Any], dict[str, Any]]:
    return report.run.prompt or {}, report.run.schema or {}


def gtt_markdown(report: EvalReport, comparison: Comparison | None = None) -> str:
    run = report.run
    prompt, schema = _made_by(report)
    source = (
        f"prompt `{prompt.get('name')}` ({str(prompt.get('sha256'))[:12]}), schema `{schema.get('name')}` "
        f"({str(schema.get('sha256'))[:12]}), model `{run.model}`, "
        f"run statuses {run.statuses}"
        if run.statuses is not None
        else "predictions from a template JSON file"
    )
    scores = report.scores.gtt
    assert scores is not None  # the "gtt" profile
    lines = [
        f"# Eval report: suite `{report.suite}` (GTT template metric)",
        "",
        f"Predictions `{run.path}`: {source}. Gold `{report.gold}`; documents scored: "
        f"{report.documents_scored}; without predictions: {len(report.missing_from_run)}.",
        "",
        "| slot | precision | recall | F1 | correct/predicted | found/gold |",
        "|---|---|---|---|---|---|",
        _slot_row("**micro**", scores.micro),
        *(_slot_row(slot, counts) for slot, counts in scores.slots.items()),
        "",
        *skipped_lines(report),
    ]
    lines += reference_markdown(report)
    lines += grounding_section(report)
    if comparison is not None:
        lines += comparison_section(comparison)
    lines += ["## Per document", "", "✓ correct, ✗ wrong, + spurious, − missed.", ""]
    for document in report.documents:
        if isinstance(document, TemplateDocument) and (document.micro.p_den or document.micro.r_den):
            lines += template_section(document)
    return "\n".join(lines) + "\n"


def to_markdown(report: EvalReport, comparison: Comparison | None = None) -> str:
    if report.is_template:
        return gtt_markdown(report, comparison)
    run = report.run
    prompt, schema = _made_by(report)
    lines = [
        f"# Eval report: suite `{report.suite}` (scope: {report.scope})",
        "",
        f"Run `{run.path}`; prompt `{prompt.get('name')}` ({str(prompt.get('sha256'))[:12]}), "
        f"schema `{schema.get('name')}` ({str(schema.get('sha256'))[:12]}), "
        f"model `{run.model}`. Documents scored: {report.documents_scored}; "
        f"run statuses: {run.statuses}.",
        "",
        *skipped_lines(report),
        *headline_table(report),
        "",
        "## Per field",
        "",
        *field_table(report),
        "",
    ]
    lines += reference_markdown(report)
    lines += grounding_section(report)
    lines += fusion_section(report)
    if comparison is not None:
        lines += comparison_section(comparison)
    lines += ["## Per document", "", "✓ correct, ½ partly right (lists), ✗ wrong, + spurious, − missed.", ""]
    for document in report.documents:
        if isinstance(document, FieldDocument):
            lines += document_section(document)
    return "\n".join(lines) + "\n"
