"""Finding eval suites (by path; by name in $LLM_EXTRACT_EVALS_DIR, the checkout's evals/, ./evals/) and where
`eval` writes: ./runs/eval/<suite>/ unless told --out; the suite folder only on --update-baseline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.api import evaluate_suite
from llm_extract.cli import app
from llm_extract.scoring import suite as suite_module
from llm_extract.scoring.suite import EVALS_ENV, SuiteError, available_suites, load_suite
from tests.test_eval import _gold_as_run, make_suite

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_evals_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EVALS_ENV, raising=False)


def copy_seeds(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "evals" / "seeds" / "suite.toml", folder / "suite.toml")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_a_name_is_found_in_the_checkout() -> None:
    assert load_suite("seeds").directory == ROOT / "evals" / "seeds"
    assert {"seeds", "muc4", "muc4-incidents"} <= set(available_suites())


def test_the_environment_folder_comes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_seeds(tmp_path / "suites" / "seeds")
    copy_seeds(tmp_path / "suites" / "private")
    monkeypatch.setenv(EVALS_ENV, str(tmp_path / "suites"))
    assert load_suite("seeds").directory == tmp_path / "suites" / "seeds"
    assert load_suite("private").directory == tmp_path / "suites" / "private"
    assert load_suite("muc4").directory == ROOT / "evals" / "muc4"  # the checkout's, still
    assert {"private", "seeds", "muc4"} <= set(available_suites())


def test_without_a_checkout_the_current_directory_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite_module, "checkout_root", lambda: None)
    copy_seeds(tmp_path / "evals" / "local")
    monkeypatch.chdir(tmp_path)
    assert load_suite("local").directory == tmp_path.resolve() / "evals" / "local"
    assert available_suites() == ["local"]


def test_an_unknown_name_says_where_it_looked_and_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EVALS_ENV, str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SuiteError) as caught:
        load_suite("nope")
    message = str(caught.value)
    assert "no eval suite 'nope'" in message and "nope/suite.toml" in message
    assert f"${EVALS_ENV} ({tmp_path / 'nowhere'}, which does not exist)" in message
    assert f"the source checkout's evals/ ({ROOT / 'evals'})" in message
    assert f"the current directory's evals/ ({tmp_path.resolve() / 'evals'}, which does not exist)" in message
    assert "Give the path to a suite folder (one holding suite.toml)" in message
    assert f"set {EVALS_ENV}" in message and "Available: muc4, muc4-incidents, seeds" in message


def test_an_installed_package_says_it_carries_no_suites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite_module, "checkout_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SuiteError, match="an installed llm-extract carries no suites") as caught:
        load_suite("seeds")
    assert "Available" not in str(caught.value)


def test_a_path_is_never_looked_up_as_a_name(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"no eval suite at .*missing/seeds: give the path to a suite folder"):
        load_suite(tmp_path / "missing" / "seeds")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuiteError, match=r"empty holds no suite.toml"):
        load_suite(str(tmp_path / "empty"))


def test_eval_writes_under_runs_eval_and_leaves_the_suite_folder_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite_dir = make_suite(tmp_path)
    run = _gold_as_run(suite_dir, tmp_path / "good.jsonl")
    before = snapshot(suite_dir)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["eval", str(suite_dir), "--run", str(run)])
    assert result.exit_code == 0, result.output
    report = json.loads((work / "runs" / "eval" / "mini" / "report.json").read_text())
    assert report["incidents"]["f1"] == 1.0
    assert (work / "runs" / "eval" / "mini" / "report.md").is_file()
    assert "runs/eval/mini/report.md" in " ".join(result.output.split())
    assert snapshot(suite_dir) == before

    # --out still decides; the suite folder is written only for the explicit --update-baseline, and only there.
    result = CliRunner().invoke(app, ["eval", str(suite_dir), "--run", str(run), "--out", "elsewhere"])
    assert result.exit_code == 0, result.output
    assert (work / "elsewhere" / "report.json").is_file() and snapshot(suite_dir) == before
    result = CliRunner().invoke(app, ["eval", str(suite_dir), "--run", str(run), "--update-baseline"])
    assert result.exit_code == 0, result.output
    after = snapshot(suite_dir)
    assert set(after) == set(before) | {"baseline.json"}
    assert {name for name in before if after[name] != before[name]} == set()
    assert json.loads(after["baseline.json"])["metrics"]["incidents.f1"] == 1.0


def test_the_default_output_folder_is_one_plain_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite_dir = make_suite(tmp_path)
    config = (suite_dir / "suite.toml").read_text().replace('name = "mini"', 'name = "../../escape"')
    (suite_dir / "suite.toml").write_text(config)
    monkeypatch.chdir(tmp_path)
    outcome = evaluate_suite(load_suite(suite_dir), run=_gold_as_run(suite_dir, tmp_path / "good.jsonl"))
    assert outcome.report_json == Path("runs", "eval", "mini", "report.json")
