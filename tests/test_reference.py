"""The plain reference: a prompt marked `reference = true` runs as a plain instructor call (records only, no
checks, no re-asks), a suite keeps a run of it, and every eval report scores it beside the run on the same
documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.api import evaluate_suite, settings_for_prompt, store_reference
from llm_extract.cli import app
from llm_extract.core.config import load_settings
from llm_extract.core.errors import LLMExtractError, PromptNotFound
from llm_extract.extraction.extract import validation_context
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.requests import build_request
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document
from llm_extract.scoring.suite import load_suite
from llm_extract.testing.fake_openai import FakeOpenAI
from tests.test_eval import _gold_as_run, make_suite

INCIDENTS = json.dumps({"incidents": []})


def test_reference_prompts_are_marked_and_others_are_not() -> None:
    assert load_prompt("plain_incident").reference and load_prompt("plain_muc4").reference
    assert not load_prompt("incident_v1").reference and not load_prompt("muc4_v3").reference


def test_a_reference_flag_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    source = load_prompt("plain_incident").path.read_text().replace("reference = true", 'reference = "yes"')
    path = tmp_path / "odd.toml"
    path.write_text(source)
    with pytest.raises(PromptNotFound, match="is not true or false"):
        load_prompt(str(path))


def test_the_reference_fills_the_records_alone() -> None:
    schema = load_schema("incident_v1")
    model = schema.model_for(False, records_only=True)
    assert list(model.model_json_schema()["properties"]) == ["incidents"]  # no "attacks" plan
    assert "attacks" in schema.model_for(False).model_json_schema()["properties"]
    with pytest.raises(ValueError, match="Extra inputs"):
        model.model_validate({"attacks": [], "incidents": []})


def test_the_reference_never_reasks_nor_checks_values_against_the_text() -> None:
    settings = load_settings(max_reasks=3, require_grounding=True)
    plain = settings_for_prompt(settings, load_prompt("plain_incident"))
    assert (plain.max_reasks, plain.require_grounding) == (0, False)
    assert settings_for_prompt(settings, load_prompt("incident_v1")) is settings
    request = build_request(Document("d", "A bomb went off.", "d.txt"), load_prompt("plain_muc4"))
    assert validation_context(request, load_prompt("plain_muc4")) == {}
    assert validation_context(request, load_prompt("muc4_v3"))["source_text"] == "A bomb went off."


def _with_reference(suite_dir: Path, run: str = "reference_run.jsonl") -> Path:
    """The mini suite (a copy of the seeds') with its [reference] run at `run`, in its own folder."""
    config = (suite_dir / "suite.toml").read_text()
    assert '[reference]\nprompt = "plain_incident"\nrun = "reference_run.jsonl"' in config
    (suite_dir / "suite.toml").write_text(config.replace('run = "reference_run.jsonl"', f'run = "{run}"'))
    return suite_dir


def test_every_report_scores_the_stored_reference_beside_the_run(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path))
    _gold_as_run(suite_dir, suite_dir / "reference_run.jsonl", drop_last=True)  # misses one per document
    good = _gold_as_run(suite_dir, tmp_path / "good.jsonl")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", str(suite_dir), "--run", str(good), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "plain F1" in result.output and "plain = the suite's reference run" in result.output
    report = json.loads((out / "report.json").read_text())
    reference = report["reference"]
    assert reference["documents_scored"] == report["documents_scored"] == 2
    assert report["incidents"]["f1"] == 1.0 > reference["incidents"]["f1"]
    assert reference["incidents"]["fn"] == 2 and reference["metrics"]["incidents.recall"] < 1.0
    assert "incidents.f1" in reference["metrics"] and not any(m.startswith("reference") for m in report["metrics"])
    markdown = (out / "report.md").read_text()
    assert "## Beside the plain reference" in markdown
    beside = markdown.split("## Beside the plain reference")[1]
    row = next(line for line in beside.splitlines() if line.startswith("| incidents |"))
    assert row.endswith(f"| {1.0 - reference['incidents']['f1']:+.3f} |")


def test_the_reference_is_scored_on_the_documents_the_run_covered(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path))
    _gold_as_run(suite_dir, suite_dir / "reference_run.jsonl")
    partial = _gold_as_run(suite_dir, tmp_path / "partial.jsonl")
    partial.write_text(partial.read_text().splitlines()[0] + "\n")  # the run covers one document of two
    outcome = evaluate_suite(load_suite(suite_dir), run=partial, out_dir=tmp_path / "out")
    reference = outcome.report.reference
    assert reference is not None and reference.documents_scored == 1 and reference.missing == []


def test_a_suite_without_its_reference_run_says_how_to_make_one(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path), run="nowhere.jsonl")
    good = _gold_as_run(suite_dir, tmp_path / "good.jsonl")
    outcome = evaluate_suite(load_suite(suite_dir), run=good, out_dir=tmp_path / "out")
    assert outcome.report.reference is not None
    assert "--plain --update-reference" in (outcome.report.reference.skipped or "")
    assert "Not scored" in outcome.report_md.read_text()


def test_plain_runs_the_reference_prompt_and_update_reference_keeps_it(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path))
    with FakeOpenAI(answer=INCIDENTS) as fake:
        args = ["eval", str(suite_dir), "--plain", "--base-url", fake.base_url, "--model", "fake",
                "--out", str(tmp_path / "out"), "--update-reference"]  # fmt: skip
        result = CliRunner().invoke(app, args, env={"LLM_EXTRACT_CACHE_DIR": str(tmp_path / "cache")})
        assert result.exit_code in (0, 1), result.output  # 1: the gate fails on an empty answer
        assert "reference run updated" in result.output
        body = fake.requests[0]
    schema = body["response_format"]["json_schema"]["schema"]
    assert list(schema["properties"]) == ["incidents"]
    assert "Extract every violent incident" in body["messages"][0]["content"]
    stored = suite_dir / "reference_run.jsonl"
    manifest = json.loads(stored.with_name("reference_run.manifest.json").read_text())
    assert manifest["prompt"]["name"] == "plain_incident" and manifest["settings"]["max_reasks"] == 0
    assert len(stored.read_text().splitlines()) == 2


def test_only_a_run_of_a_reference_prompt_can_become_the_reference(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path))
    suite = load_suite(suite_dir)
    with FakeOpenAI() as fake:
        settings = load_settings(base_url=fake.base_url, model="fake", cache_dir=tmp_path / "cache")
        outcome = evaluate_suite(suite, settings, out_dir=tmp_path / "out")
    with pytest.raises(LLMExtractError, match="not a plain reference prompt"):
        store_reference(outcome, suite)
    assert not (suite_dir / "reference_run.jsonl").exists()


def test_plain_and_prompt_together_are_refused(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path))
    result = CliRunner().invoke(app, ["eval", str(suite_dir), "--plain", "--prompt", "incident_v1"])
    assert result.exit_code != 0 and "not both" in result.output


def test_a_reference_covering_part_of_the_run_is_compared_on_the_shared_documents(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path))
    reference = _gold_as_run(suite_dir, suite_dir / "reference_run.jsonl")
    reference.write_text(reference.read_text().splitlines()[0] + "\n")  # the reference covers one of two
    worse = _gold_as_run(suite_dir, tmp_path / "worse.jsonl", drop_last=True)
    outcome = evaluate_suite(load_suite(suite_dir), run=worse, out_dir=tmp_path / "out")
    section = outcome.report.reference
    assert section is not None and section.documents_scored == 1 and len(section.missing) == 1
    same, plain = section.run_on_same_documents, section.scores.incidents
    assert same is not None and same.incidents is not None and plain is not None
    assert same.incidents.tp + same.incidents.fn == plain.tp  # one document's gold
    assert same.incidents.fn == 1 and plain.fn == 0
    assert "the run's columns here are its scores on the shared ones alone" in outcome.report_md.read_text()


def test_a_reference_sharing_no_document_with_the_run_is_not_shown_as_zeros(tmp_path: Path) -> None:
    suite_dir = _with_reference(make_suite(tmp_path))
    reference = _gold_as_run(suite_dir, suite_dir / "reference_run.jsonl")
    reference.write_text(reference.read_text().splitlines()[0] + "\n")
    run = _gold_as_run(suite_dir, tmp_path / "other.jsonl")
    run.write_text(run.read_text().splitlines()[1] + "\n")  # the other document only
    outcome = evaluate_suite(load_suite(suite_dir), run=run, out_dir=tmp_path / "out")
    assert outcome.report.reference is not None
    assert "covers none of this run's documents" in (outcome.report.reference.skipped or "")
