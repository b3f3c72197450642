"""EvalReport: every stored report in evals/ loads, writes back byte for byte and gates as its JSON did; the typed
parts read what the JSON holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_extract.evaluation.eval_report import EvalReport, FieldDocument, ReportFormatError, TemplateDocument
from llm_extract.evaluation.evaluate import check_gate
from llm_extract.evaluation.report import plain_scores, to_markdown
from llm_extract.scoring.suite import load_suite

EVALS = Path(__file__).resolve().parent.parent / "evals"
BASELINES = sorted(EVALS.glob("*/baseline.json"))


def test_there_are_baselines() -> None:
    assert {path.parent.name for path in BASELINES} >= {"seeds", "muc4"}


@pytest.mark.parametrize("path", BASELINES, ids=lambda path: path.parent.name)
def test_a_stored_baseline_loads_and_writes_back_byte_for_byte(path: Path) -> None:
    report = EvalReport.load(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert report.to_json() == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert report.metrics == data["metrics"] and report.suite == data["suite"] and report.profile == data["profile"]
    assert report.documents_scored == data["documents_scored"] == len(report.documents)
    assert all(isinstance(d, TemplateDocument if report.is_template else FieldDocument) for d in report.documents)
    assert [d.doc_id for d in report.documents] == [d["doc_id"] for d in data["documents"]]
    rows = report.scores.rows()
    assert rows and all(row.f1 == pytest.approx(row.f1) for row in rows.values())
    assert to_markdown(report).startswith(f"# Eval report: suite `{data['suite']}`")


@pytest.mark.parametrize("path", BASELINES, ids=lambda path: path.parent.name)
def test_a_stored_baseline_gates_as_its_metrics_do(path: Path) -> None:
    report = EvalReport.load(path)
    gate = load_suite(path.parent.name).gate
    against_itself = check_gate(report, report, gate)
    assert not against_itself.moved
    low = EvalReport.from_json({"metrics": {name: 0.0 for name in report.metrics}})
    dropped = check_gate(low, report, gate)
    assert {name for name, _, _ in dropped.moved} == {n for n, v in report.metrics.items() if v != 0.0}
    assert dropped.passed == (not gate.thresholds)


def test_the_seeds_baseline_parts() -> None:
    report = EvalReport.load(EVALS / "seeds" / "baseline.json")
    data = json.loads((EVALS / "seeds" / "baseline.json").read_text())
    assert report.run.statuses == data["run"]["statuses"] and report.run.path == data["run"]["path"]
    assert report.scores.incidents is not None and report.scores.incidents.tp == data["incidents"]["tp"]
    assert report.fusion is not None and report.fusion.gold is not None
    assert report.fusion.gold.pairwise.f1 == data["fusion"]["gold"]["pairwise"]["f1"]
    assert report.reference is not None and report.reference.skipped is None
    assert report.reference.documents_scored == data["reference"]["documents_scored"]
    scores = plain_scores(report)
    assert scores is not None and scores[0]["incidents"].f1 == data["reference"]["incidents"]["f1"]
    grounding = report.run.grounding
    assert grounding is not None and grounding.overall.rate == data["run"]["grounding"]["rate"]


def test_a_section_added_goes_last_and_a_replaced_one_keeps_its_place() -> None:
    report = EvalReport.from_json({"suite": "s", "metrics": {"a": 1.0}, "documents": []})
    added = report.with_section("reference", {"skipped": "none stored"})
    assert list(json.loads(added.to_json())) == ["suite", "metrics", "documents", "reference"]
    assert added.reference is not None and added.reference.skipped == "none stored"
    replaced = added.with_section("suite", "t")
    assert next(iter(json.loads(replaced.to_json()))) == "suite" and replaced.suite == "t"
    assert report.reference is None  # the report itself is unchanged


def test_unknown_sections_are_kept() -> None:
    data = {"metrics": {}, "a_newer_section": {"x": [1, 2]}, "documents": []}
    report = EvalReport.from_json(data)
    assert json.loads(report.to_json()) == data and report["a_newer_section"] == {"x": [1, 2]}


@pytest.mark.parametrize("data", [[], {"suite": "s"}, {"metrics": [1]}, {"metrics": {}, "documents": [{"pairs": 1}]}])
def test_what_is_not_a_report(data: object) -> None:
    with pytest.raises(ReportFormatError):
        EvalReport.from_json(data)
