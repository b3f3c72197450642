"""Stored runs as eval, review and fuse read them: a missing or empty file is an error before anything is
scored, a malformed line is named by its number and skipped (never a traceback), a baseline is never
written from a run that scored nothing, and enum-like options refuse typos."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.cli import app
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.runs.store import read_lines
from tests.test_eval import SEEDS, _gold_as_run, make_suite

BAD_LINES = [  # (line, what the warning must say), after the two good lines of the mini suite
    ({"doc_id": "no-status", "incidents": []}, "no status"),
    ({"doc_id": 7, "status": "ok", "incidents": []}, "doc_id is int"),
    ({"doc_id": "null-item", "status": "ok", "incidents": [None]}, "holds something other than objects"),
    ({"doc_id": "null-list", "status": "ok", "incidents": None}, "is NoneType, not a list"),
    ({"doc_id": "wrong-types", "status": "ok", "incidents": [{"location": "Baghdad", "date": 5}]}, "not an object"),
    ({"doc_id": "numbers", "status": "error", "usage": "lots", "latency_s": "slow"}, "usage"),
    ({"doc_id": "status", "status": "done", "incidents": []}, "not one of ok, invalid, error"),
]


def runner() -> CliRunner:
    return CliRunner()


def malformed_run(suite_dir: Path, path: Path) -> Path:
    """The mini suite's gold as a run (2 good lines), then one bad line of each kind, then a truncated line."""
    good = _gold_as_run(suite_dir, path).read_text()
    bad = "".join(json.dumps(record) + "\n" for record, _ in BAD_LINES)
    path.write_text(good + bad + '{"doc_id": "cut", "status": "o')
    return path


def expected_warnings(path: Path) -> list[tuple[int, str]]:
    lines = [(3 + offset, reason) for offset, (_, reason) in enumerate(BAD_LINES)]
    return [*lines, (3 + len(BAD_LINES), "cut short")]


def assert_warned(output: str, path: Path) -> None:
    flat = " ".join(output.split())  # rich wraps long lines
    for number, reason in expected_warnings(path):
        assert re.search(rf"{re.escape(path.name)}:{number}: [^;]*{re.escape(reason)}", flat), (number, reason, flat)


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    suite = make_suite(tmp_path)
    (suite / "baseline.json").write_bytes(SEEDS.baseline_path.read_bytes())
    return suite


# ---- missing, empty and all-malformed runs ----------------------------------------------------------


@pytest.mark.parametrize("content", [None, "", "\n\n"])
def test_eval_of_a_missing_or_empty_run_is_an_error_and_writes_nothing(
    suite_dir: Path, tmp_path: Path, content: str | None
) -> None:
    run = tmp_path / "missing.jsonl"
    if content is not None:
        run.write_text(content)
    out = tmp_path / "out"
    before = (suite_dir / "baseline.json").read_bytes()
    result = runner().invoke(app, ["eval", str(suite_dir), "--run", str(run), "--out", str(out), "--update-baseline"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    flat = " ".join(result.output.split())
    assert "missing.jsonl" in flat and ("no run at" in flat or "is empty" in flat), flat
    assert "llm-extract extract -o" in flat  # what to do
    assert not (out / "report.json").exists() and not (out / "report.md").exists()
    assert (suite_dir / "baseline.json").read_bytes() == before


@pytest.mark.parametrize("command", ["eval", "review", "fuse"])
def test_a_run_of_only_malformed_lines_is_an_error(suite_dir: Path, tmp_path: Path, command: str) -> None:
    run = tmp_path / "junk.jsonl"
    run.write_text('{"doc_id": "a"}\n[1, 2]\nnot json\n')
    args = {
        "eval": ["eval", str(suite_dir), "--run", str(run), "--out", str(tmp_path / "out")],
        "review": ["review", str(run), "-o", str(tmp_path / "r.html"), "--suite", str(suite_dir)],
        "fuse": ["fuse", str(run), "-o", str(tmp_path / "events.jsonl")],
    }[command]
    result = runner().invoke(app, args)
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "no line of" in flat and "junk.jsonl" in flat and "line 1: no status" in flat, flat


def test_review_and_fuse_of_a_missing_run_are_errors(tmp_path: Path) -> None:
    for args in (["review", str(tmp_path / "nope.jsonl")], ["fuse", str(tmp_path / "nope.jsonl")]):
        result = runner().invoke(app, [*args, "-o", str(tmp_path / "x")])
        assert result.exit_code == 2 and "no run at" in result.output, result.output
        assert not (tmp_path / "x").exists()


# ---- the baseline -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["errors", "other documents"])
def test_update_baseline_refuses_a_run_that_scored_no_document(suite_dir: Path, tmp_path: Path, kind: str) -> None:
    gold_ids = [json.loads(line)["doc_id"] for line in (suite_dir / "gold.jsonl").read_text().splitlines()]
    if kind == "errors":
        records = [{"doc_id": doc_id, "status": "error", "incidents": None, "error": "boom"} for doc_id in gold_ids]
    else:
        records = [{"doc_id": "not-in-gold", "status": "ok", "incidents": []}]
    run = tmp_path / "nothing.jsonl"
    run.write_text("".join(json.dumps(record) + "\n" for record in records))
    baseline = suite_dir / "baseline.json"
    before = baseline.read_bytes()
    result = runner().invoke(
        app, ["eval", str(suite_dir), "--run", str(run), "--out", str(tmp_path / "out"), "--update-baseline"]
    )
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert "not updating the baseline" in flat and "nothing.jsonl" in flat, flat
    assert "came back ok" in flat  # also said as a warning above the report
    assert baseline.read_bytes() == before


def test_update_baseline_stores_a_run_that_scored(suite_dir: Path, tmp_path: Path) -> None:
    run = _gold_as_run(suite_dir, tmp_path / "good.jsonl")
    result = runner().invoke(
        app, ["eval", str(suite_dir), "--run", str(run), "--out", str(tmp_path / "out"), "--update-baseline"]
    )
    assert result.exit_code == 0, result.output
    stored = json.loads((suite_dir / "baseline.json").read_text())
    assert stored["metrics"]["incidents.f1"] == 1.0 and stored["run"]["ok_in_gold"] == 2


# ---- malformed lines: named and skipped ---------------------------------------------------------------


def test_eval_names_each_malformed_line_and_scores_the_good_ones(suite_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "runs [" / "x]"  # ".../runs [/x]/run.jsonl": markup in a path is printed as text
    folder.mkdir(parents=True)
    run = malformed_run(suite_dir, folder / "run.jsonl")
    result = runner().invoke(app, ["eval", str(suite_dir), "--run", str(run), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert_warned(result.output, run)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["incidents"]["f1"] == 1.0 and report["fields"]["micro"]["f1"] == 1.0
    assert [item["line"] for item in report["run"]["skipped_lines"]] == [n for n, _ in expected_warnings(run)]


def test_review_names_each_malformed_line_and_draws_the_good_ones(suite_dir: Path, tmp_path: Path) -> None:
    run = malformed_run(suite_dir, tmp_path / "run.jsonl")
    page = tmp_path / "review.html"
    result = runner().invoke(app, ["review", str(run), "-o", str(page), "--suite", str(suite_dir)])
    assert result.exit_code == 0, result.output
    assert_warned(result.output, run)
    html = page.read_text()
    data = json.loads(re.search(r'id="review-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    gold_ids = [json.loads(line)["doc_id"] for line in (suite_dir / "gold.jsonl").read_text().splitlines()]
    assert [d["doc_id"] for d in data] == gold_ids
    assert f"{run}:{3 + len(BAD_LINES)}: cut short" in html  # the page lists them too


def test_fuse_names_each_malformed_line_and_fuses_the_good_ones(suite_dir: Path, tmp_path: Path) -> None:
    run = malformed_run(suite_dir, tmp_path / "run.jsonl")
    events = tmp_path / "events.jsonl"
    result = runner().invoke(app, ["fuse", str(run), "-o", str(events)])
    assert result.exit_code == 0, result.output
    assert_warned(result.output, run)
    fused = [json.loads(line) for line in events.read_text().splitlines()]
    gold_ids = {json.loads(line)["doc_id"] for line in (suite_dir / "gold.jsonl").read_text().splitlines()}
    assert fused and {article for event in fused for article in event["articles"]} == gold_ids


def test_fuse_still_refuses_a_run_of_another_schema(tmp_path: Path) -> None:
    run = tmp_path / "muc.jsonl"
    run.write_text(json.dumps({"doc_id": "a", "status": "ok", "templates": []}) + "\n")
    result = runner().invoke(app, ["fuse", str(run), "-o", str(tmp_path / "e.jsonl")])
    assert result.exit_code == 2 and "incident_v1" in result.output, result.output


def test_read_run_numbers_lines_and_keeps_the_runners_view(tmp_path: Path) -> None:
    """One parser: the runner still counts torn and unreadable lines; consumers get them by number."""
    from llm_extract.runs.store import read_run

    run = tmp_path / "run.jsonl"
    run.write_text(
        '{"doc_id": "a", "status": "ok", "incidents": []}\n\nnot json\n{"doc_id": "b", "status": "ok", "incidents": []}'
    )
    lines = read_run(run, "incidents")
    assert [r.doc_id for r in lines.records] == ["a", "b"]  # a whole last line without its newline is read
    assert lines.numbers == [1, 4]
    assert [(p.line, p.reason.split(" (")[0]) for p in lines.problems] == [(3, "not JSON")]
    records, bad = read_lines(run)
    assert [r.doc_id for r in records] == ["a"] and bad == 3  # the runner redoes "b" (no newline yet)


def test_record_problem_checks_the_structure_the_schema_gives() -> None:
    from llm_extract.runs.store import record_problem

    shape = load_schema("incident_v1").json_schema
    ok = {"doc_id": "a", "status": "ok"}
    assert (
        record_problem({**ok, "incidents": [{"location": {"site": None}, "weapons": []}]}, "incidents", shape) is None
    )
    assert "incidents[0].weapons[0]" in str(record_problem({**ok, "incidents": [{"weapons": [3]}]}, "incidents", shape))
    problem = record_problem({**ok, "incidents": [{"location": {"town": ["a"]}}]}, "incidents", shape)
    assert problem == "incidents[0].location.town is a list, not a single value"
    assert record_problem({**ok, "status": "invalid", "incidents": None}, "incidents", shape) is None


# ---- options ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "seeds", "--scope", "mian", "--run", "x.jsonl"],  # at HEAD: scored a missing run, exit 0
        ["fuse", "x.jsonl", "--date-slack", "-1"],
        ["fuse", "x.jsonl", "--threshold", "nan"],
    ],
)
def test_options_refuse_values_they_do_not_know(args: list[str], tmp_path: Path) -> None:
    result = runner().invoke(app, [*args, "--out" if args[0] == "eval" else "-o", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output
    assert not (tmp_path / "o").exists()


def test_record_problem_names_a_missing_empty_or_mistyped_doc_id() -> None:
    from llm_extract.runs.store import record_problem

    assert record_problem({"status": "ok"}) == "no doc_id"
    assert record_problem({"doc_id": "", "status": "ok"}) == "no doc_id"
    assert record_problem({"doc_id": 7, "status": "ok"}) == "doc_id is int, not a string"
