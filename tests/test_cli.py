"""The command line as a user meets it: help at 80 columns, --version, `config show`, one-line errors, -o/--output,
plain progress lines off a terminal, and a summary table that fits 80 columns."""

from __future__ import annotations

import io
import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from rich.cells import cell_len
from rich.console import Console
from rich.progress import Progress
from typer.testing import CliRunner

from llm_extract import api, cli
from llm_extract.cli import app
from llm_extract.runs.runline import RunLine
from llm_extract.testing.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
NARROW = {"COLUMNS": "80", "TERM": "dumb"}
WIDE = {"COLUMNS": "200", "TERM": "dumb"}  # for assertions on content that 80 columns would wrap
SECRET = "sk-test-cli-secret-0123456789"


def invoke(args: list[str], env: dict[str, str] | None = None) -> typer.testing.Result:
    return CliRunner().invoke(app, args, env=env or NARROW)


def command_paths(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group, as the words that reach it (the root is ())."""
    paths = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


ROOT_COMMAND = typer.main.get_command(app)
assert isinstance(ROOT_COMMAND, typer.core.TyperGroup)
PATHS = command_paths(ROOT_COMMAND)


def command_at(path: tuple[str, ...]) -> typer.core.TyperCommand | typer.core.TyperGroup:
    command = ROOT_COMMAND
    for word in path:
        assert isinstance(command, typer.core.TyperGroup)
        command = command.commands[word]
    return command


# ---- help -------------------------------------------------------------------------------------------------------


def test_every_command_is_covered() -> None:
    leaves = {" ".join(path) for path in PATHS}
    assert {
        "extract",
        "eval",
        "review",
        "fuse",
        "export",
        "compare",
        "config show",
        "prompt show",
        "model info",
    } <= leaves


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "root")
def test_help_fits_80_columns_and_names_every_option_in_full(path: tuple[str, ...]) -> None:
    result = invoke([*path, "--help"])
    assert result.exit_code == 0, result.output
    too_wide = [line for line in result.output.splitlines() if cell_len(line) > 80]
    assert not too_wide, too_wide
    assert "…" not in result.output, "a name or a type was cut"
    for param in command_at(path).params:
        if isinstance(param, typer.core.TyperOption) and not param.hidden:
            for name in param.opts:
                assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", result.output), f"{name} not shown in full"


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "root")
def test_every_option_has_help_and_a_default(path: tuple[str, ...]) -> None:
    for param in command_at(path).params:
        if not isinstance(param, typer.core.TyperOption) or param.hidden or param.name in {"help", "show_version"}:
            continue
        assert param.help, f"{param.opts} has no help"
        assert isinstance(param.show_default, str) or param.default is not None, f"{param.opts} shows no default"


def test_settings_flags_show_the_defaults_settings_fall_back_to() -> None:
    flat = " ".join(invoke(["extract", "--help"]).output.replace("│", " ").split())
    assert "--temperature T Sampling temperature [default: (0.0)]" in flat
    assert "--max-tokens N Most tokens in one answer [default: (2048)]" in flat
    assert "--timeout SECONDS Seconds per HTTP request [default: (600.0)]" in flat


def test_extract_help_groups_its_options_in_panels() -> None:
    output = invoke(["extract", "--help"]).output
    panels = re.findall(r"╭─ ([^─]+) ─", output)
    assert panels == ["Arguments", "Options", "Model and endpoint", "Extraction", "Run control"]


def test_root_help_lists_each_command_on_one_short_line() -> None:
    output = invoke(["--help"]).output
    rows = [line for line in output.splitlines() if re.match(r"│ (extract|eval|review|fuse|export|compare) ", line)]
    assert len(rows) == 6
    continuation = re.compile(r"│ {10}\S")  # a description wrapped under the command names
    assert not any(continuation.match(line) for line in output.splitlines())


def test_version() -> None:
    result = invoke(["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"llm-extract {version('llm-extract')}"


# ---- config show --------------------------------------------------------------------------------------------------


def config_rows(output: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in output.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].isidentifier():
            value, _, source = parts[2].partition("  ")
            rows[parts[0]] = (parts[1], source.strip() or value.strip())
    return rows


def test_config_show_names_where_each_setting_came_from(tmp_path: Path) -> None:
    config = tmp_path / "llm-extract.toml"
    config.write_text('model = "from-file"\nmax_reasks = 4\ntemperature = 0.7\n')
    env = {**WIDE, "OPENAI_API_KEY": SECRET, "LLM_EXTRACT_TEMPERATURE": "0.3", "LLM_EXTRACT_CONFIG": ""}
    result = invoke(["config", "show", "--config", str(config), "--timeout", "30", "--model", "from-flag"], env)
    assert result.exit_code == 0, result.output
    rows = config_rows(result.stdout)
    assert rows["model"] == ("from-flag", "flag --model")
    assert rows["request_timeout"] == ("30.0", "flag --timeout")
    assert rows["temperature"] == ("0.3", "environment LLM_EXTRACT_TEMPERATURE")  # the environment beats the file
    assert rows["max_reasks"] == ("4", f"config file {config}")
    assert rows["max_retries"] == ("6", "default")
    assert rows["api_key"] == ("***", "environment OPENAI_API_KEY")
    assert SECRET not in result.output
    assert f"config file: {config}" in result.stdout


def test_config_show_masks_credentials_in_the_url(tmp_path: Path) -> None:
    result = invoke(["config", "show", "--base-url", f"https://user:{SECRET}@host/v1"], WIDE)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "https://***@host/v1" in result.stdout


# ---- errors -------------------------------------------------------------------------------------------------------


def test_an_invalid_setting_names_the_flag_not_the_field(tmp_path: Path) -> None:
    result = invoke(["extract", str(tmp_path), "-o", str(tmp_path / "o.jsonl"), "--timeout", "0"], WIDE)
    assert result.exit_code == 2
    assert "error: invalid settings: --timeout: input should be greater than 0 (got 0.0)" in result.stderr
    assert "request_timeout" not in result.output and "Traceback" not in result.output


def test_an_invalid_setting_from_the_environment_or_a_file_names_it(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("max_reasks = 99\n")
    env = {**WIDE, "LLM_EXTRACT_MAX_TOKENS": "3"}
    result = invoke(["config", "show", "--config", str(config)], env)
    assert result.exit_code == 2
    assert "LLM_EXTRACT_MAX_TOKENS: input should be greater than or equal to 16 (got '3')" in result.stderr
    assert f"{config}: max_reasks: input should be less than or equal to 10 (got 99)" in result.stderr


def test_a_missing_doc_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    result = invoke(["prompt", "show", "--doc", str(tmp_path / "missing.txt")], WIDE)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: --doc {tmp_path / 'missing.txt'}: no such file or folder"]


def test_a_settings_error_outside_a_run_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("local_ctx = 1\n")
    result = invoke(["model", "info", "--config", str(config)], WIDE)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        f"error: invalid settings: {config}: local_ctx: input should be greater than or equal to 512 (got 1)"
    ]


def test_an_unexpected_error_is_one_line_and_the_traceback_comes_with_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError(f"boom with key {SECRET}")

    monkeypatch.setattr(api, "review_run", broken)
    args = ["review", str(tmp_path / "run.jsonl"), "-o", str(tmp_path / "r.html")]
    result = invoke(args, WIDE)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unexpected RuntimeError: boom with key sk-***"), lines
    assert "--debug" in lines[0] and SECRET not in result.output
    debugged = invoke(["--debug", *args], WIDE)
    assert isinstance(debugged.exception, RuntimeError)  # handed to typer, which prints the traceback


# ---- -o/--output --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["extract", "eval", "review", "fuse", "export", "compare"])
def test_every_command_that_writes_takes_dash_o(command: str) -> None:
    options = {name for param in command_at((command,)).params for name in param.opts}
    assert {"-o", "--output"} <= options


def test_eval_writes_to_dash_o_and_still_takes_the_hidden_out(tmp_path: Path) -> None:
    run = str(ROOT / "evals" / "seeds" / "reference_run.jsonl")
    for flag, folder in (("-o", tmp_path / "new"), ("--out", tmp_path / "old")):
        result = invoke(["eval", "seeds", "--run", run, flag, str(folder)], WIDE)
        assert result.exit_code in (0, 1), result.output  # 1: the plain reference is under the suite's gates
        assert (folder / "report.json").is_file() and (folder / "report.md").is_file()
    assert "--out " not in invoke(["eval", "--help"]).output
    both = invoke(["eval", "seeds", "--run", run, "-o", str(tmp_path / "a"), "--out", str(tmp_path / "b")], WIDE)
    assert both.exit_code == 2 and "--out is the old name of -o/--output" in both.output


# ---- progress and summary -----------------------------------------------------------------------------------------

LONG_IDS = [
    "reuters-2024-03-17-drone-strike-on-kharkiv-power-station-follow-up-0001",
    "reuters-2024-03-17-drone-strike-on-kharkiv-power-station-follow-up-0002",
]


def run_extract(tmp_path: Path, script: list[str]) -> typer.testing.Result:
    source = tmp_path / "in.jsonl"
    rows = [{"id": doc_id, "text": "A drone struck a base on Wednesday."} for doc_id in LONG_IDS]
    rows.append({"id": "short", "text": "Rockets hit a town."})
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with FakeOpenAI(script=script) as fake:
        args = ["extract", str(source), "-o", str(tmp_path / "out.jsonl"), "--base-url", fake.base_url, "--model",
                "fake", "-j", "1", "--max-retries", "0", "--max-reasks", "0"]  # fmt: skip
        return invoke(args, {**NARROW, "LLM_EXTRACT_CACHE_DIR": str(tmp_path / "cache")})


def test_off_a_terminal_each_document_is_one_plain_line_and_a_summary_ends_the_run(tmp_path: Path) -> None:
    result = run_extract(tmp_path, ["ok", "server_error", "ok"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    per_document = [line for line in lines if re.match(r"\[\d/3\] ", line)]
    assert len(per_document) == 3, lines
    done = {line.split()[1]: line for line in per_document}
    assert re.fullmatch(rf"\[\d/3\] {LONG_IDS[0]} ok, 0 incidents, \d+\.\d s", done[LONG_IDS[0]])
    failed = next(line for line in per_document if " error, " in line)
    assert re.search(r"error, no incidents, \d+\.\d s: \S", failed), failed
    assert "━" not in result.stderr and "extracting" not in result.stderr, "no progress bar off a terminal"
    assert re.search(r"3 processed \(2 ok, 0 invalid, 1 error\).* s \((\d+(\.\d)? docs/s|\S+ s/doc)\) -> ", lines[-1])


def test_the_summary_table_fits_80_columns_and_keeps_each_id_on_one_line(tmp_path: Path) -> None:
    result = run_extract(tmp_path, [])
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert all(cell_len(line) <= 80 for line in table), table
    rows = [line for line in table if "reuters-" in line]
    assert len(rows) == 2, table
    for row, doc_id in zip(rows, LONG_IDS, strict=True):
        shown_id = row.split()[0]
        assert "…" in shown_id and doc_id.startswith(shown_id.split("…")[0]) and doc_id.endswith(shown_id.split("…")[1])
        assert row.split()[1] == "ok"


def test_the_bar_shows_a_rate_for_slow_runs_and_an_eta() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    with Progress(console=terminal) as progress:
        display = cli.BarDisplay(progress)
        display.started(planned=5, already_done=0)
        display.started_at -= 160  # two documents in 160 s
        for doc_id in ("a", "b"):
            display.recorded(RunLine(doc_id=doc_id, status="ok", items=[]))
        fields = progress.tasks[0].fields
    assert fields["rate"] == "80 s/doc"
    assert fields["eta"] == "0:04:00"  # three left at 80 s each
