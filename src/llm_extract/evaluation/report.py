"""Eval reports as Markdown: headline scores, the per-field table, the baseline diff, per-document diffs."""

from __future__ import annotations

import json
from typing import Any

from llm_extract.evaluation.evaluate import Comparison, Report

VERDICT_MARK = {"correct": "✓", "partial": "½", "wrong": "✗", "spurious": "+", "missed": "−", "empty": ""}


def _cell(value: Any) -> str:
    if value is None:
        return "∅"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")[:80]


def _counts_row(name: str, counts: dict[str, Any]) -> str:
    return (
        f"| {name} | {counts['precision']:.3f} | {counts['recall']:.3f} | {counts['f1']:.3f} "
        f"| {counts['tp']} | {counts['fp']} | {counts['fn']} |"
    )


def headline_table(report: Report) -> list[str]:
    lines = ["| metric | precision | recall | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|"]
    lines.append(_counts_row("incidents", report["incidents"]))
    lines.append(_counts_row("fields (micro)", report["fields"]["micro"]))
    if "matched" in report["fields"]:
        lines.append(_counts_row("fields (matched incidents)", report["fields"]["matched"]))
    return lines


def field_table(report: Report) -> list[str]:
    lines = ["| field | precision | recall | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|"]
    for path, counts in report["fields"]["by_field"].items():
        if counts["tp"] + counts["fp"] + counts["fn"]:
            lines.append(_counts_row(f"`{path}`", counts))
    return lines


def _diff_rows(fields: list[dict[str, Any]]) -> list[str]:
    return [
        f"| `{f['field']}` | {_cell(f['gold'])} | {_cell(f['pred'])} | {VERDICT_MARK[f['verdict']]} {f['verdict']} |"
        for f in fields
        if f["verdict"] != "empty"
    ]


def document_section(document: dict[str, Any]) -> list[str]:
    counts = document["incidents"]
    lines = [
        f"### {document['doc_id']}",
        "",
        f"Run status: {document['run_status']}. Incidents: {counts['tp']} matched, {counts['fp']} spurious, "
        f"{counts['fn']} missed.",
        "",
    ]
    header = ["| field | gold | predicted | verdict |", "|---|---|---|---|"]
    for pair in document["pairs"]:
        lines += [f"**gold {pair['gold_id']} ↔ predicted #{pair['pred_index']}** (similarity {pair['similarity']:.2f})"]
        lines += ["", *header, *_diff_rows(pair["fields"]), ""]
    for item in document["spurious"]:
        lines += [f"**spurious: predicted #{item['pred_index']}** (no gold incident matches)", ""]
        lines += [*header, *_diff_rows(item["fields"]), ""]
    for item in document["missed"]:
        lines += [f"**missed: gold {item['gold_id']}** (no prediction matches)", ""]
        lines += [*header, *_diff_rows(item["fields"]), ""]
    return lines


def grounding_section(report: Report) -> list[str]:
    """How many copied values were found in their texts, by field (from the run's stored grounding)."""
    summary = report["run"].get("grounding")
    if summary is None:
        return []  # another system's predictions: nothing to ground
    if not summary.get("values"):
        without = summary.get("documents_without")
        return ["## Grounding", "", f"Not recorded in this run ({without} documents stored without it).", ""]
    lines = [
        "## Grounding",
        "",
        f"{summary['rate']:.1%} of {summary['values']} copied values were found in their text "
        f"({summary['exact']} exact, {summary['normalised']} after case/quote/space folding, "
        f"{summary['fuzzy']} fuzzy, {summary['not_found']} not found).",
        "",
        "| field | values | exact | normalised | fuzzy | not found | rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for path, row in summary["by_field"].items():
        lines.append(
            f"| `{path}` | {row['values']} | {row['exact']} | {row['normalised']} | {row['fuzzy']} "
            f"| {row['not_found']} | {row['rate']:.1%} |"
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


def fusion_section(report: Report) -> list[str]:
    """Fusion scored against the suite's gold clusters: on gold incidents alone, and end to end."""
    section = report.get("fusion")
    if section is None:
        return []
    lines = ["## Fusion (cross-article)", ""]
    if "skipped" in section:
        return [*lines, f"Not scored: {section['skipped']}.", ""]
    lines += [
        f"Reports of one real-world event in different articles, grouped by `llm-extract fuse` and scored against "
        f"the suite's gold clusters (`{section['clusters']}`). Fusion alone fuses the gold incidents themselves (their "
        "first listed reading); end to end fuses the extracted incidents, each standing for the gold incident the "
        "scorer aligned it with (an unaligned one is an event of its own).",
        "",
        "| fused | items | gold events | predicted events | pairs P | pairs R | pairs F1 | B³ P | B³ R | B³ F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, key in (("fusion alone (gold incidents)", "gold"), ("end to end (extracted incidents)", "e2e")):
        part = section[key]
        scores = [part["pairwise"][n] for n in ("precision", "recall", "f1")]
        scores += [part["bcubed"][n] for n in ("precision", "recall", "f1")]
        lines.append(f"| {name} | {part['items']} | {part['gold_events']} | {part['predicted_events']} | "
                     + " | ".join(f"{value:.3f}" for value in scores) + " |")  # fmt: skip
    lines += ["", "Events of more than one report, fusing the gold incidents:", ""]
    lines += _events_list(section["gold"]["events"])
    lines += [
        "",
        "Events of more than one report, end to end (each report with the gold incident it was aligned with):",
    ]
    lines += ["", *_events_list(section["e2e"]["events"], section["e2e"]["aligned"]), ""]
    return lines


def score_rows(scores: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Row name -> counts, for a report or its reference section (either profile), in display order."""
    if "gtt" in scores:
        return {"micro": scores["gtt"]["micro"], **scores["gtt"]["slots"]}
    fields = scores["fields"]
    matched = {"matched": fields["matched"]} if "matched" in fields else {}
    return {"incidents": scores["incidents"], "micro": fields["micro"], **matched, **fields["by_field"]}


def plain_scores(report: Report) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None:
    """The plain reference's counts by row (incidents, micro, each field or slot), and the run's own on the same
    documents (all of the run's, unless the reference covers only part); None without a scored reference."""
    section = report.get("reference")
    if not section or "skipped" in section:
        return None
    return score_rows(section), score_rows(section.get("run_on_same_documents") or report)


def reference_markdown(report: Report) -> list[str]:
    """This run beside the suite's plain reference run, row by row, on the same documents."""
    section = report.get("reference")
    if section is None:
        return []
    lines = ["## Beside the plain reference", ""]
    if "skipped" in section:
        return [*lines, f"Not scored: {section['skipped']}.", ""]
    missing = section["missing"]
    partial = (
        f" It does not cover {len(missing)} of this run's documents ({', '.join(missing[:10])}"
        f"{', ...' if len(missing) > 10 else ''}): the run's columns here are its scores on the shared ones alone."
        if missing
        else ""
    )
    lines += [
        f"The plain reference is the suite's stored run of prompt `{section['prompt']}` (the schema filled by a plain "
        f"instructor call: one-paragraph prompt, no plan, no checks, no re-asks), `{section['path']}`, scored on the "
        f"same {section['documents_scored']} documents; its statuses: {section['statuses']}.{partial}",
        "",
        "| row | P | R | F1 | plain P | plain R | plain F1 | Δ F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    plain, ours = plain_scores(report) or ({}, {})
    for name, c in ours.items():
        p = plain.get(name)
        if not (c.get("tp", 0) + c.get("fp", 0) + c.get("fn", 0)) and "p_den" not in c:
            continue
        theirs = (
            f"{p['precision']:.3f} | {p['recall']:.3f} | {p['f1']:.3f} | {c['f1'] - p['f1']:+.3f}"
            if p
            else "– | – | – |"
        )
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {theirs} |")
    return [*lines, ""]


def skipped_lines(report: Report) -> list[str]:
    """The run lines the reader could not use: a score over fewer documents than the run holds says so."""
    skipped = report["run"].get("skipped_lines") or []
    if not skipped:
        return []
    listed = "; ".join(f"line {item['line']}: {item['reason']}" for item in skipped[:20])
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


def _slot_row(name: str, c: dict[str, Any]) -> str:
    return (
        f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
        f"| {c['p_num']}/{c['p_den']} | {c['r_num']}/{c['r_den']} |"
    )


def _mentions(entity: list[str]) -> str:
    return " / ".join(_cell(m) for m in entity)


def template_section(document: dict[str, Any]) -> list[str]:
    """One document under the GTT metric: pairs with their fillers judged, then spurious and missed templates."""
    micro = document["micro"]
    lines = [
        f"### {document['doc_id']}",
        "",
        f"Run status: {document['run_status'] or 'n/a'}. Correct {micro['p_num']} of {micro['p_den']} predicted "
        f"fillers; found {micro['r_num']} of {micro['r_den']} gold fillers (incident types included).",
        "",
    ]
    for pair in document["pairs"]:
        pred_type, gold_type = pair["incident_type"]
        lines += [f"**predicted #{pair['pred_index']} ({pred_type}) ↔ gold #{pair['gold_index']} ({gold_type})**", ""]
        lines += [f"- {'✓' if f['correct'] else '✗'} {f['role']}: {_mentions(f['pred'])}" for f in pair["predicted"]]
        lines += [f"- − missed {g['role']}: {_mentions(g['gold'])}" for g in pair["gold"] if not g["found"]]
        lines.append("")
    for item in document["spurious"]:
        lines += [f"**spurious: predicted #{item['pred_index']} ({item['incident_type']})**", ""]
        lines += [f"- + {f['role']}: {_mentions(f['pred'])}" for f in item["predicted"]]
        lines.append("")
    for item in document["missed"]:
        lines += [f"**missed: gold #{item['gold_index']} ({item['incident_type']})**", ""]
        lines += [f"- − {g['role']}: {_mentions(g['gold'])}" for g in item["gold"]]
        lines.append("")
    return lines


def gtt_markdown(report: Report, comparison: Comparison | None = None) -> str:
    run = report["run"]
    prompt, schema = run.get("prompt") or {}, run.get("schema") or {}
    source = (
        f"prompt `{prompt.get('name')}` ({str(prompt.get('sha256'))[:12]}), schema `{schema.get('name')}` "
        f"({str(schema.get('sha256'))[:12]}), model `{(run.get('endpoint') or {}).get('model')}`, "
        f"run statuses {run['statuses']}"
        if run.get("statuses") is not None
        else "predictions from a template JSON file"
    )
    scores = report["gtt"]
    lines = [
        f"# Eval report: suite `{report['suite']}` (GTT template metric)",
        "",
        f"Predictions `{run['path']}`: {source}. Gold `{report['gold']}`; documents scored: "
        f"{report['documents_scored']}; without predictions: {len(report['missing_from_run'])}.",
        "",
        "| slot | precision | recall | F1 | correct/predicted | found/gold |",
        "|---|---|---|---|---|---|",
        _slot_row("**micro**", scores["micro"]),
        *(_slot_row(slot, counts) for slot, counts in scores["slots"].items()),
        "",
        *skipped_lines(report),
    ]
    lines += reference_markdown(report)
    lines += grounding_section(report)
    if comparison is not None:
        lines += comparison_section(comparison)
    lines += ["## Per document", "", "✓ correct, ✗ wrong, + spurious, − missed.", ""]
    for document in report["documents"]:
        if document["micro"]["p_den"] or document["micro"]["r_den"]:
            lines += template_section(document)
    return "\n".join(lines) + "\n"


def to_markdown(report: Report, comparison: Comparison | None = None) -> str:
    if report.get("profile") == "gtt":
        return gtt_markdown(report, comparison)
    run = report["run"]
    prompt, schema = run.get("prompt") or {}, run.get("schema") or {}
    lines = [
        f"# Eval report: suite `{report['suite']}` (scope: {report['scope']})",
        "",
        f"Run `{run['path']}`; prompt `{prompt.get('name')}` ({str(prompt.get('sha256'))[:12]}), "
        f"schema `{schema.get('name')}` ({str(schema.get('sha256'))[:12]}), "
        f"model `{(run.get('endpoint') or {}).get('model')}`. Documents scored: {report['documents_scored']}; "
        f"run statuses: {run['statuses']}.",
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
    for document in report["documents"]:
        lines += document_section(document)
    return "\n".join(lines) + "\n"
