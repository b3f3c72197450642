"""Inter-annotator agreement between two gold labellings of the seed suite, by the project's own scorer.

Scored agreement: each labelling is read as a perfect extractor would give it (`gold_reading`: the first
listed alternative, the low end of a range; optional incidents left out) and scored as a run against the
other labelling with the suite's scoring config: B read as a run against A ("B vs A") and A read as a run
against B ("A vs B"). The directions differ (each side's alternatives and optional incidents count only
where it is the gold), so both are shown, with their mean.

The scorer forgives much by design: a first reading inside the other side's alternatives is correct, an
optional incident costs nothing, alias lists are matched by any one alias, and target names, towns and
weapon counts are not scored. So the report adds exact value agreement: incidents aligned by the scorer
(optional ones included), and for every labelled field of an aligned pair, whether the two labellings wrote
the same value, with alternatives and aliases compared as sets after the scorer's name normalisation.
No model is called.

    .venv/bin/python evals/seeds/agreement.py                 # gold.jsonl vs second_labelling/gold.jsonl
    .venv/bin/python evals/seeds/agreement.py --a /tmp/first.jsonl --b evals/seeds/gold.jsonl --json out.json
    .venv/bin/python evals/seeds/agreement.py --diff          # also list every value the two wrote differently
    .venv/bin/python evals/seeds/agreement.py --optional      # read optional incidents into the runs too
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from llm_extract.core.paths import get_path, has_path
from llm_extract.core.text import fold_name as normalise_name
from llm_extract.evaluation.evaluate import gold_reading
from llm_extract.scoring.fields import ScoringConfig, score
from llm_extract.scoring.suite import Suite, load_suite

SUITE = Path(__file__).resolve().parent
Gold = dict[str, list[dict[str, Any]]]
METRICS = ("precision", "recall", "f1")
ABSENT = "(key left out)"
# Every labelled field of an incident (GUIDELINES.md §1), compared for exact agreement; `id` is not compared.
LABELLED = (
    "optional", "role", "sub_event_type", "weapons", "date.start", "date.end", "date.precision",
    "location.site", "location.town", "location.region", "location.country", "perpetrators", "claimed_by",
    "targets", "outcome.intercepted", "casualties.killed.min", "casualties.killed.max",
    "casualties.injured.min", "casualties.injured.max",
)  # fmt: skip


def load_gold(suite: Suite, path: Path) -> Gold:
    """doc_id -> gold incidents of a gold file in the suite's format."""
    return dataclasses.replace(suite, gold_path=path).gold()


def as_run(gold: Gold, optional: bool = False) -> Gold:
    """A labelling as a run: each incident's first reading (optional incidents only if `optional`)."""
    return {
        doc: [gold_reading(item) for item in items if optional or not item.get("optional", False)]
        for doc, items in gold.items()
    }


def direction(config: ScoringConfig, gold: Gold, labelling: Gold, optional: bool = False) -> dict[str, Any]:
    """`labelling`, read as a run, scored against `gold`: incident and field counts (those with any count)."""
    result = score(config, gold, as_run(labelling, optional), doc_ids=sorted(set(gold) | set(labelling)))
    fields = {path: c.as_dict() for path, c in result.fields.items() if c.tp + c.fp + c.fn}
    return {"incidents": result.incidents.as_dict(), "fields_micro": result.micro.as_dict(), "fields": fields}


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4)


def scored_agreement(config: ScoringConfig, a: Gold, b: Gold, optional: bool = False) -> dict[str, Any]:
    """Both directions and their mean (`optional`: optional incidents are read into the runs too)."""
    both = b_vs_a, a_vs_b = direction(config, a, b, optional), direction(config, b, a, optional)
    paths = [spec.path for spec in config.fields if any(spec.path in d["fields"] for d in both)]
    mean = {
        "incidents": {m: _mean([d["incidents"][m] for d in both]) for m in METRICS},
        "fields_micro": {m: _mean([d["fields_micro"][m] for d in both]) for m in METRICS},
        "fields_f1": {p: _mean([d["fields"][p]["f1"] for d in both if p in d["fields"]]) for p in paths},
    }
    return {"optional_read": optional, "b_vs_a": b_vs_a, "a_vs_b": a_vs_b, "mean": mean}


def _get(incident: dict[str, Any], path: str) -> Any:
    return get_path(incident, path) if has_path(incident, path) else ABSENT


def canonical(value: Any) -> Any:
    """A labelled value with order, duplicates and spelling variants the scorer ignores taken out."""
    if isinstance(value, str):
        return normalise_name(value)
    if isinstance(value, dict):
        return tuple(sorted((key, canonical(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(sorted({canonical(item) for item in value}, key=repr))
    return value


def value_agreement(config: ScoringConfig, a: Gold, b: Gold) -> dict[str, Any]:
    """Exact agreement of the labelled values of aligned incidents, and the incidents only one side has."""
    # The scorer's alignment of every incident of B (optional ones too) with A's.
    result = score(config, a, as_run(b, optional=True), doc_ids=sorted(set(a) | set(b)))
    a_by_id = {str(item.get("id")): item for items in a.values() for item in items}
    fields = {path: {"same": 0, "compared": 0} for path in LABELLED}
    differences: list[dict[str, Any]] = []
    only_a: list[str] = []
    only_b: list[str] = []
    for document in result.documents:
        items = b.get(document.doc_id, [])
        for pair in document.pairs:
            left, right = a_by_id[pair.gold_id], items[pair.pred_index]
            for path in LABELLED:
                va, vb = _get(left, path), _get(right, path)
                fields[path]["compared"] += 1
                if canonical(va) == canonical(vb):
                    fields[path]["same"] += 1
                else:
                    differences.append(
                        {"a": pair.gold_id, "b": right.get("id"), "field": path, "a_value": va, "b_value": vb}
                    )
        aligned_a = {pair.gold_id for pair in document.pairs}
        aligned_b = {pair.pred_index for pair in document.pairs}
        only_a += [str(g.get("id")) for g in a.get(document.doc_id, []) if str(g.get("id")) not in aligned_a]
        only_b += [str(g.get("id")) for i, g in enumerate(items) if i not in aligned_b]
    same = sum(f["same"] for f in fields.values())
    compared = sum(f["compared"] for f in fields.values())
    return {
        "aligned_incidents": sum(len(d.pairs) for d in result.documents),
        "only_in_a": only_a,
        "only_in_b": only_b,
        "values_same": same,
        "values_compared": compared,
        "rate": round(same / compared, 4) if compared else 1.0,
        "fields": {
            path: {**f, "rate": round(f["same"] / f["compared"], 4) if f["compared"] else 1.0}
            for path, f in fields.items()
        },
        "differences": differences,
    }


def _strings(value: Any) -> set[str]:
    """Every string in a value, normalised as the scorer normalises names (for the diff)."""
    if isinstance(value, str):
        return {normalise_name(value)}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return {text for item in items for text in _strings(item)}


def _line(label: str, counts: dict[str, Any]) -> str:
    tally = f" ({counts['tp']}/{counts['fp']}/{counts['fn']})" if "tp" in counts else ""
    return f"{label:<34} P {counts['precision']:.3f}  R {counts['recall']:.3f}  F1 {counts['f1']:.3f}{tally}"


def render(report: dict[str, Any], diff: bool = False) -> str:
    scored, exact = report["scored"], report["exact"]
    read = "optional incidents read too" if scored["optional_read"] else "optional incidents left out"
    lines = [f"A: {report['a']}", f"B: {report['b']}", "", f"scored agreement ({read}; counts tp/fp/fn)"]
    for key, title in (("b_vs_a", "B read as a run against A"), ("a_vs_b", "A read as a run against B")):
        lines += [title, _line("  incidents", scored[key]["incidents"])]
        lines += [_line("  fields micro", scored[key]["fields_micro"])]
    mean = scored["mean"]
    lines += ["mean of both directions", _line("  incidents", mean["incidents"])]
    lines += [_line("  fields micro", mean["fields_micro"])]
    lines += ["", f"{'field F1':<34} {'B vs A':>7} {'A vs B':>7} {'mean':>7}"]
    for path, value in mean["fields_f1"].items():
        cells = [scored[k]["fields"].get(path, {}).get("f1") for k in ("b_vs_a", "a_vs_b")]
        shown = " ".join(f"{c:>7.3f}" if c is not None else f"{'-':>7}" for c in cells)
        lines.append(f"  {path:<32} {shown} {value:>7.3f}")
    lines += [
        "",
        f"exact value agreement (all incidents, optional ones too): {exact['aligned_incidents']} aligned, "
        f"only in A {exact['only_in_a'] or 'none'}, only in B {exact['only_in_b'] or 'none'}",
        f"  all labelled values {exact['values_same']}/{exact['values_compared']} identical ({exact['rate']:.3f})",
    ]
    for path, f in exact["fields"].items():
        if f["same"] != f["compared"]:
            lines.append(f"  {path:<32} {f['same']:>3}/{f['compared']:<3} identical ({f['rate']:.3f})")
    if diff:
        lines += ["", "values written differently (A incident / B incident, field: A value | B value):"]
        for d in exact["differences"]:
            lines.append(f"  {d['a']}/{d['b']} {d['field']}: {json.dumps(d['a_value'])} | {json.dumps(d['b_value'])}")
            only_a, only_b = (
                _strings(d["a_value"]) - _strings(d["b_value"]),
                _strings(d["b_value"]) - _strings(d["a_value"]),
            )
            if only_a or only_b:
                lines.append(f"      strings only in A {sorted(only_a)}, only in B {sorted(only_b)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, default=SUITE / "gold.jsonl", help="labelling A (default: the gold)")
    parser.add_argument("--b", type=Path, default=SUITE / "second_labelling" / "gold.jsonl", help="labelling B")
    parser.add_argument("--suite", default=str(SUITE), help="the suite whose scoring config is used (seeds)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument("--optional", action="store_true", help="read optional incidents into the runs too (stricter)")
    parser.add_argument("--diff", action="store_true", help="list every value the two labellings wrote differently")
    args = parser.parse_args(argv)
    suite = load_suite(args.suite)
    if suite.scoring is None:
        parser.error(f"suite {suite.name} has no field scoring")
    a, b = load_gold(suite, args.a), load_gold(suite, args.b)
    report = {
        "a": str(args.a),
        "b": str(args.b),
        "scored": scored_agreement(suite.scoring, a, b, args.optional),
        "exact": value_agreement(suite.scoring, a, b),
    }
    print(render(report, diff=args.diff))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
