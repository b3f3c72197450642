"""How often each kind of review-page flag marks a real error: the flags of stored runs scored against their suites'
gold, so the page can rank flags by what they are worth (all 9 of 9 seed records carry one: unranked, they do
not help triage).

Rerun with:  .venv/bin/python bench/flags.py
It writes bench/results/flags.json (per run and overall) and src/llm_extract/review/flag_ranks.json (the overall
figures, which the review page reads); --out and --ranks change where, --run SUITE=RUN adds or replaces runs.

The flags are the page's own (review.page.build_review, from the suite's texts; a run stored without grounding is
annotated as the page annotates it). A flagged value is judged by the suite's scorer (evaluation.evaluate_run):
- in a record aligned with a gold incident: a scalar field is an error when its verdict is wrong, spurious or
  missed; an element of a list field (a perpetrator's name) when it matches none of the gold's elements (with the
  suite's own matching and fuzzy threshold); a flag on a group (casualties.killed) when any of its scored fields is
  an error;
- in a record no gold incident matches (spurious): an error, whatever the field;
- otherwise (a free-text field the suite does not score, a record out of the suite's scope, a document without
  gold) it is not scored.
precision = errors / scored flagged values; precision_of_all = errors / flagged values (unscored counted as right);
precision_in_matched_records leaves out the records no gold incident matches. "every value" is the base rate: every
value of every record judged alike, flagged or not (a flag helps when its precision is above it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from llm_extract.core.paths import generic_path, loc_of
from llm_extract.evaluation.evaluate import evaluate_run
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.review.page import FLAG_KINDS, build_review
from llm_extract.scoring.fields import SET_KINDS, FieldKind, alternatives, value_matches
from llm_extract.scoring.suite import Suite, load_suite

ROOT = Path(__file__).resolve().parents[1]
RUNS = [
    ("seeds", "evals/seeds/reference_run.jsonl"),
    ("seeds", "tests/data/scoring/seeds_run.jsonl"),
    ("muc4-incidents", "evals/muc4-incidents/reference_run.jsonl"),
]
ERRORS = {"wrong", "spurious", "missed"}


def _element_is_wrong(kind: FieldKind, gold: Any, element: Any, threshold: float) -> bool:
    """Whether one predicted element of a list field matches none of the gold's elements (each a list of aliases,
    an optional one as {"optional": aliases})."""
    element_kind: FieldKind = "enum" if kind == "enum_set" else "name"
    for item in gold or []:
        aliases = item["optional"] if isinstance(item, dict) and "optional" in item else item
        if any(alias is not None and value_matches(element_kind, alias, element, threshold)
               for alias in alternatives(aliases)):  # fmt: skip
            return False
    return True


def _value_at(record: dict[str, Any], path: str) -> Any:
    """The value at a concrete path ('perpetrators[1].name'); None where the record does not reach."""
    node: Any = record
    for part in loc_of(path):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def judge(flag: dict[str, Any], incident: dict[str, Any], scored: dict[str, Any] | None, suite: Suite) -> str:
    """'error', 'right' or 'unscored' for one flagged value of one record (`scored`: the scorer's pair or
    spurious entry for the record, "spurious" set for the latter; None when the scorer did not see the record)."""
    if scored is None:
        return "unscored"
    if scored["spurious"]:
        return "error"
    assert suite.scoring is not None
    kinds = {spec.path: spec.kind for spec in suite.scoring.fields}
    generic = generic_path(flag["field"])
    rows = [row for row in scored["fields"] if row["field"] == generic or row["field"].startswith(generic + ".")]
    if not rows:
        return "unscored"
    kind = kinds.get(generic)
    if kind in SET_KINDS:
        assert kind is not None
        element = _value_at(incident, flag["field"])
        wrong = _element_is_wrong(kind, rows[0]["gold"], element, suite.scoring.fuzzy_threshold)
        return "error" if wrong else "right"
    return "error" if any(row["verdict"] in ERRORS for row in rows) else "right"


def score_run(suite: Suite, run: Path) -> dict[str, Any]:
    """Per flag kind: flagged, scored, errors (of them in spurious records), unscored; and per field."""
    spec = load_schema(suite.schema)
    page = build_review(run, spec, [suite.documents])
    without_text = [d.doc_id for d in page["documents"] if d.text is None]
    if without_text:
        raise SystemExit(f"{run}: no text for {len(without_text)} documents ({without_text[:3]}) in {suite.documents}")
    report = evaluate_run(suite, run, spec.list_field, shape=spec.json_schema)
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for document in report["documents"]:
        for pair in document["pairs"]:
            seen[document["doc_id"], pair["pred_index"]] = {"spurious": False, "fields": pair["fields"]}
        for entry in document["spurious"]:
            seen[document["doc_id"], entry["pred_index"]] = {"spurious": True, "fields": entry["fields"]}
    records = {line.doc_id: line.records for line in _lines(run, spec.list_field, spec.json_schema)}
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    by_field: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for document in page["documents"]:
        for card in document.cards:
            incident = records[document.doc_id][card.index]
            scored = seen.get((document.doc_id, card.index))
            for row in card.rows:  # the base rate: every value, flagged or not, judged alike
                if row["value"] is not None and row["value"] != []:
                    verdict = judge({"field": row["field"]}, incident, scored, suite)
                    counts["every value"].update(["flagged", verdict])
                    if verdict == "error" and scored is not None and scored["spurious"]:
                        counts["every value"]["in_spurious_records"] += 1
            for flag in card.flags:
                verdict = judge(flag, incident, scored, suite)
                counts[flag["kind"]].update(["flagged", verdict])
                if verdict == "error" and scored is not None and scored["spurious"]:
                    counts[flag["kind"]]["in_spurious_records"] += 1
                by_field[f"{flag['kind']} {generic_path(flag['field'])}"][verdict] += 1
    return {
        "run": str(run.relative_to(ROOT) if run.is_relative_to(ROOT) else run),
        "suite": suite.name,
        "documents": len(page["documents"]),
        "records": sum(len(d.cards) for d in page["documents"]),
        "flagged_records": sum(1 for d in page["documents"] for card in d.cards if card.flags),
        "kinds": {kind: _figures(counts[kind]) for kind in FLAG_KINDS},
        "every value": _figures(counts["every value"]),
        "by_field": {key: dict(value) for key, value in sorted(by_field.items())},
    }


def _lines(run: Path, list_field: str, shape: dict[str, Any]) -> list[Any]:
    from llm_extract.runs.store import read_run

    return read_run(run, list_field, shape).records


def _figures(counts: Counter[str]) -> dict[str, Any]:
    scored = counts["error"] + counts["right"]
    matched, in_matched = scored - counts["in_spurious_records"], counts["error"] - counts["in_spurious_records"]
    return {
        "flagged": counts["flagged"],
        "scored": scored,
        "errors": counts["error"],
        "in_spurious_records": counts["in_spurious_records"],
        "unscored": counts["unscored"],
        "precision": round(counts["error"] / scored, 4) if scored else None,
        "precision_of_all": round(counts["error"] / counts["flagged"], 4) if counts["flagged"] else None,
        "precision_in_matched_records": round(in_matched / matched, 4) if matched else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", default=[], metavar="SUITE=RUN", help="score this run too")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "flags.json")
    parser.add_argument("--ranks", type=Path, default=ROOT / "src" / "llm_extract" / "review" / "flag_ranks.json")
    args = parser.parse_args()
    runs = list(RUNS) + [tuple(item.split("=", 1)) for item in args.run]
    results = []
    for suite_name, run in runs:
        path = Path(run) if Path(run).is_absolute() else ROOT / run
        if not path.is_file():
            raise SystemExit(f"no run at {path} (for suite {suite_name})")
        results.append(score_run(load_suite(suite_name), path))
    total: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for result in results:
        for kind, figures in [*result["kinds"].items(), ("every value", result["every value"])]:
            total[kind].update({"flagged": figures["flagged"], "error": figures["errors"],
                                "right": figures["scored"] - figures["errors"], "unscored": figures["unscored"],
                                "in_spurious_records": figures["in_spurious_records"]})  # fmt: skip
    command = "python bench/flags.py" + "".join(f" --run {item}" for item in args.run)
    kinds = {kind: _figures(total[kind]) for kind in FLAG_KINDS}
    base = _figures(total["every value"])
    output = {"command": command, "python": platform.python_version(), "runs": results, "kinds": kinds,
              "every value": base}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    ranks = {"command": command, "runs": [r["run"] for r in results], "kinds": kinds, "every value": base}
    args.ranks.write_text(json.dumps(ranks, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    json.dump({**kinds, "every value": base}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
