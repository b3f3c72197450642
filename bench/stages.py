"""What each post-answer stage does to a stored run's scores, on the model's own answers: no model is called.

Salvage, resolution and the removal of repeated records act on answers the model already gave (salvage on the last
rejected answer a line keeps; the others on the records), so applying them to a run stored before they existed
gives what a fresh run makes of the same answers. The stored run must be one made without them.

Prints JSON (and writes it with --out; --final writes the run with every stage applied). Rerun with:
  .venv/bin/python bench/stages.py --suite muc4 --run evals/muc4/muc4_v3_run.jsonl --halves \
      --out bench/results/stages_muc4_dev.json
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from llm_extract.api import evaluate_suite
from llm_extract.evaluation.eval_report import EvalReport, FieldDocument
from llm_extract.extraction.annotate import anchor_for
from llm_extract.extraction.checks import CHECKS
from llm_extract.extraction.extract import VALIDATION_CONTEXT_KEY
from llm_extract.extraction.resolve import placed_outside, resolve_records
from llm_extract.extraction.salvage import salvage
from llm_extract.extraction.schema_loader import SchemaSpec, load_schema
from llm_extract.inputs.documents import Document, iter_inputs
from llm_extract.scoring.suite import Suite, load_suite

Line = dict[str, Any]


def salvaged(lines: list[Line], spec: SchemaSpec, documents: dict[str, Document]) -> list[Line]:
    out = []
    for line in map(copy.deepcopy, lines):
        if line["status"] == "invalid" and line.get("last_output"):
            text = documents[line["doc_id"]].text
            kept = salvage(line["last_output"], spec.response_model, spec, {VALIDATION_CONTEXT_KEY: text}, text)
            if kept is not None:
                line["status"] = "ok"
                line[spec.list_field] = kept.parsed.model_dump(mode="json")[spec.list_field]
        out.append(line)
    return out


def _each_ok(lines: list[Line], change: Callable[[Line], None]) -> list[Line]:
    out = [copy.deepcopy(line) for line in lines]
    for line in out:
        if line["status"] == "ok":
            change(line)
    return out


def resolved(lines: list[Line], spec: SchemaSpec, documents: dict[str, Document]) -> list[Line]:
    def resolve(line: Line) -> None:
        document = documents[line["doc_id"]]
        resolve_records(line.get(spec.list_field) or [], document.text, spec, anchor_for(document))

    return _each_ok(lines, resolve)


def resolution_steps(spec: SchemaSpec) -> list[tuple[str, SchemaSpec]]:
    """resolve_records with its parts added one at a time: the field resolvers, the checks, the names verified, the
    role lexicon, the type model, the relevance model (each row is the schema with the stages up to it)."""
    trained = (("+ fillers retyped", "role_lexicon"), ("+ type from the fillers", "type_model"),
               ("+ relevance", "relevance"))  # fmt: skip
    resolvers = tuple((path, kind) for path, kind in spec.resolved_fields if kind not in CHECKS)
    partial = replace(spec, resolved_fields=resolvers, verified_fields=(), **{field: None for _, field in trained})
    steps = [("+ resolution", partial)]
    if resolvers != spec.resolved_fields:
        partial = replace(partial, resolved_fields=spec.resolved_fields)
        steps.append(("+ checks against the article's words", partial))
    if spec.verified_fields:
        partial = replace(partial, verified_fields=spec.verified_fields)
        steps.append(("+ names cut to the article's words", partial))
    for name, field in trained:
        if getattr(spec, field) is not None:
            partial = replace(partial, **{field: getattr(spec, field)})
            steps.append((name, partial))
    return steps


def deduplicated(lines: list[Line], spec: SchemaSpec, _documents: dict[str, Document]) -> list[Line]:
    def drop_repeats(line: Line) -> None:
        line[spec.list_field] = spec.deduplicate(line.get(spec.list_field) or [])[0]

    return _each_ok(lines, drop_repeats)


def country_figures(
    report: EvalReport, lines: list[Line], spec: SchemaSpec, documents: dict[str, Document]
) -> dict[str, Any]:
    """Issue 14's two country targets, for a schema with a location: the share of matched incidents whose
    country (where the gold gives one) is right, and the records placed in a country their article gives no word
    of (`placed_outside`)."""
    verdicts = [row.verdict for document in report.documents if isinstance(document, FieldDocument)
                for pair in document.pairs for row in pair.fields
                if row.field == "location.country" and row.gold is not None]  # fmt: skip
    scored = {document.doc_id for document in report.documents}
    outside = [line["doc_id"] for line in lines if line["status"] == "ok" and line["doc_id"] in scored
               for record in line.get(spec.list_field) or []
               if placed_outside(record.get("location") or {}, documents[line["doc_id"]].text)]  # fmt: skip
    return {"matched_with_gold_country": len(verdicts), "country_right": verdicts.count("correct"),
            "country_right_share": round(verdicts.count("correct") / len(verdicts), 4) if verdicts else None,
            "records_in_a_country_not_in_the_article": len(outside)}  # fmt: skip


def scores(suite: Suite, lines: list[Line], folder: Path, name: str, gold: Path | None,
           spec: SchemaSpec, documents: dict[str, Document]) -> dict[str, Any]:  # fmt: skip
    path = folder / f"{name}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = evaluate_suite(suite, run=path, out_dir=folder / name, gold=gold).report
    statuses = {status: sum(1 for line in lines if line["status"] == status) for status in ("ok", "invalid", "error")}
    result = {"statuses": statuses, "metrics": dict(report.metrics)}
    if any(field.startswith("location") for field, _ in spec.resolved_fields):
        result["countries"] = country_figures(report, lines, spec, documents)
    return result


def halves(gold: Path, folder: Path) -> dict[str, Path]:
    """The gold split in its fixed halves (first and second half of its lines: TST1 and TST2 for muc4)."""
    lines = gold.read_text().splitlines(keepends=True)
    middle = len(lines) // 2
    parts = {"first half": lines[:middle], "second half": lines[middle:]}
    paths = {}
    for name, part in parts.items():
        paths[name] = folder / f"{name.replace(' ', '_')}.gold.jsonl"
        paths[name].write_text("".join(part))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="muc4")
    parser.add_argument("--run", type=Path, default=Path("evals/muc4/muc4_v3_run.jsonl"))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--final", type=Path, help="also write the run with every stage applied (JSONL), to score")
    parser.add_argument("--docs", type=Path, help="the run's documents, when not the suite's (JSONL)")
    parser.add_argument("--gold", type=Path, help="score against this gold instead of the suite's")
    parser.add_argument("--halves", action="store_true", help="also score each stage on the gold's two halves")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    spec = load_schema(suite.schema)
    documents = args.docs or suite.documents
    by_id = {document.id: document for document in iter_inputs([documents]) if isinstance(document, Document)}
    lines = [json.loads(line) for line in args.run.read_text().splitlines() if line.strip()]
    results: dict[str, Any] = {"suite": suite.name, "run": str(args.run), "stages": {}}
    with tempfile.TemporaryDirectory() as folder:
        steps = [("stored", lines)]
        steps.append(("+ salvage", salvaged(steps[-1][1], spec, by_id)))
        salvaged_lines = steps[-1][1]
        for name, partial in resolution_steps(spec):
            steps.append((name, resolved(salvaged_lines, partial, by_id)))
        steps.append(("+ repeats dropped", deduplicated(steps[-1][1], spec, by_id)))
        golds = {"all": args.gold or suite.gold_path}
        if args.halves:
            golds.update(halves(golds["all"], Path(folder)))
        for part, gold in golds.items():
            for number, (name, stage_lines) in enumerate(steps):
                key = name if part == "all" else f"{name} ({part})"
                results["stages"][key] = scores(suite, stage_lines, Path(folder), f"stage{number}", gold, spec, by_id)
    if args.final:
        args.final.write_text("".join(json.dumps(line) + "\n" for line in steps[-1][1]))
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
