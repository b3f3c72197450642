"""The library surface: what the CLI calls, and what a notebook user calls directly.

from llm_extract import extract_batch, extract_text, load_settings
summary = extract_batch(["articles/"], "out.jsonl", load_settings(concurrency=2))
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import json
import platform
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette

from llm_extract.core.config import Settings, load_settings
from llm_extract.core.errors import LLMExtractError
from llm_extract.evaluation.compare import RunComparison
from llm_extract.evaluation.compare import compare_runs as _compare_runs
from llm_extract.evaluation.eval_report import EvalReport, ReportFormatError
from llm_extract.evaluation.evaluate import Comparison, check_gate, coverage_warning, evaluate_run, reference_section
from llm_extract.evaluation.report import to_markdown
from llm_extract.events.fusion import Fusion, FusionConfig, fuse, run_incidents
from llm_extract.export import ExportSummary as ExportSummary  # the library's export surface, re-exported
from llm_extract.export import documents_frame as documents_frame
from llm_extract.export import events_frame as events_frame
from llm_extract.export import export_file as export_file
from llm_extract.export import incidents_frame as incidents_frame
from llm_extract.extraction.chunking import ChunkingError, plan_chunks
from llm_extract.extraction.extract import ExtractionResult, Extractor, RecordExtractor, RetryPolicy, SamplingParams
from llm_extract.extraction.fill import FillingExtractor, load_fill
from llm_extract.extraction.prompts import PromptTemplate, load_prompt
from llm_extract.extraction.requests import ExtractionRequest, PromptLimit, build_request, estimate_tokens, prompt_limit
from llm_extract.extraction.schema_loader import SchemaSpec, load_schema
from llm_extract.inputs.documents import Document, Input, InputFailure, iter_inputs, record_document
from llm_extract.providers.local_server import SharedServer, still_serving
from llm_extract.providers.provider import (
    Endpoint,
    documents_in_flight,
    make_client,
    make_sync_client,
    open_endpoint,
    planned_endpoint,
)
from llm_extract.review.compare_page import render_compare
from llm_extract.review.corrections import CorrectionStore, write_corrected_run
from llm_extract.review.gold import GoldSummary as GoldSummary
from llm_extract.review.gold import add_gold as add_gold
from llm_extract.review.page import write_review
from llm_extract.review.server import LOOPBACK_NAMES, make_app
from llm_extract.runs.batch_api import BatchSubmitter
from llm_extract.runs.cache import CachingExtractor, ResponseCache
from llm_extract.runs.identity import WorkIdentity
from llm_extract.runs.runline import RunLine, now_iso
from llm_extract.runs.runner import BatchRunner, RunObserver, RunStats, file_totals
from llm_extract.runs.store import (
    OutputError,
    RunStore,
    atomic_write,
    check_derived_output,
    line_warning,
    manifest_path_for,
    read_lines,
    read_manifest,
    read_run,
    recorded_schema,
)
from llm_extract.scoring.incidents import SourceIncident
from llm_extract.scoring.suite import Suite, SuiteError, load_suite

Progress = Callable[[str], None]
T = TypeVar("T")

# The embedded llama.cpp server of this process: started by the first call that needs it, reused by the next
# ones (extract_text, extract_batch, evaluate_suite), stopped at interpreter exit.
EMBEDDED_SERVER: SharedServer[Endpoint] = SharedServer()


@dataclass
class RunSummary:
    output: Path
    manifest_path: Path
    manifest: dict[str, Any]
    stats: RunStats


def settings_for_prompt(settings: Settings, prompt: PromptTemplate) -> Settings:
    """A plain reference prompt (`reference = true`) runs as a plain instructor call would: no re-ask, no grounding
    check and no salvage, whatever else the settings say; the manifest and the work identity record what ran."""
    if not prompt.reference:
        return settings
    return settings.model_copy(update={"max_reasks": 0, "require_grounding": False, "salvage": False, "fill": None})


def make_extractor(endpoint: Endpoint, settings: Settings, one_record: bool = False) -> Extractor:
    """The extractor of a run's settings; `one_record`: the one a fill prompt's calls use (fill.py)."""
    prompt = load_prompt(settings.prompt_name)
    settings = settings_for_prompt(settings, prompt)
    return Extractor(
        client=make_client(endpoint, settings),
        schema=load_schema(settings.schema_name),
        prompt=prompt,
        params=SamplingParams(endpoint.model, settings.temperature, settings.max_tokens, settings.seed, settings.mode),
        policy=RetryPolicy(
            settings.max_reasks,
            settings.max_retries,
            settings.backoff_initial,
            settings.backoff_max,
            deadline_s=settings.request_timeout,
        ),
        require_grounding=settings.require_grounding,
        salvage=settings.salvage,
        one_record=one_record,
    )


def _fill_ref(name: str) -> dict[str, Any]:
    fill = load_fill(name)
    return {"name": fill.name, "path": str(fill.path), "sha256": fill.sha256, "max_lines": fill.max_lines}


def _manifest(
    settings: Settings,
    endpoint: Endpoint,
    prompt: PromptTemplate,
    schema: SchemaSpec,
    identity: WorkIdentity,
    inputs: list[str],
    token_limit: PromptLimit | None,
) -> dict[str, Any]:
    return {
        "tool": {"name": "llm-extract", "version": version("llm-extract"), "python": sys.version.split()[0],
                 "platform": platform.platform()},
        "status": "running",
        "started_at": now_iso(),
        "ended_at": None,
        "inputs": inputs,
        "endpoint": endpoint.describe(),
        "prompt": {"name": prompt.name, "path": str(prompt.path), "sha256": prompt.sha256},
        "fill": None if not settings.fill else _fill_ref(settings.fill),
        "schema": {"name": schema.name, "path": str(schema.path), "sha256": schema.sha256},
        "work": identity.describe(),
        "settings": settings.public_dict(),
        "prompt_token_limit": None if token_limit is None else asdict(token_limit),
        "counts": None,
        "invocation": None,
    }  # fmt: skip


def _needs_model(runner: BatchRunner, read: Callable[[], Iterator[Input]], limit: int | None) -> bool:
    """False when every document is already done in the output or answered by the response cache: then no
    server is started (and no weights verified) for nothing."""
    stored = {line.doc_id: line for line in read_lines(runner.store.path)[0]}
    for item in itertools.islice(read(), limit):
        if not isinstance(item, Document) or runner.is_done(stored.get(item.id), runner.work_key(item)):
            continue
        cache = runner.extractor if isinstance(runner.extractor, CachingExtractor) else None
        if cache is None or not cache.is_cached(runner.request_for(item)):
            return True
    return False


def _previous_batch(store: RunStore) -> dict[str, Any] | None:
    """The Batch API job the previous run on this output recorded, if any (it may be taken up again)."""
    try:
        previous = read_manifest(store.path)
    except LLMExtractError:
        return None
    found = previous.get("batch") if previous is not None else None
    return found if isinstance(found, dict) else None


def _check_previous_run(store: RunStore, identity: WorkIdentity, overwrite: bool) -> None:
    """Never replace the lines of a run made with other weights, prompt, schema or settings unless asked to."""
    has_lines, manifest = store.previous_run()
    if not has_lines or overwrite:
        return
    again = "rerun with --overwrite to replace it, or choose another -o"
    if manifest is None:
        raise OutputError(f"{store.requested} holds run lines but no manifest beside it, so what made them is "
                          f"unknown; {again}")  # fmt: skip
    recorded = manifest.get("work")
    if not isinstance(recorded, dict):
        raise OutputError(f"{store.requested} was written by an earlier llm-extract that did not record what its "
                          f"answers depend on; {again}")  # fmt: skip
    if differences := identity.differences(recorded):
        raise OutputError(f"{store.requested} holds a run made with other settings ({'; '.join(differences)}); {again}")


class Terminated(KeyboardInterrupt):
    """SIGTERM during a run: handled as Ctrl-C is, and told apart by the exit code (143, not 130)."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler, `kill`) ends a run like Ctrl-C: the manifest says interrupted, the server stops."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _outside_event_loop(call: Callable[[], T]) -> T:
    """`call()` here, or on a thread of its own when this thread runs an event loop: a Jupyter cell does, and
    asyncio.run (which every extraction uses) refuses to start inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-extract-call") as thread:
        return thread.submit(call).result()


def _embedded_server_key(settings: Settings) -> tuple[Any, ...]:
    """What the embedded server is started with (provider.open_endpoint): calls that agree on these share it."""
    return (settings.model_path, settings.cache_dir, settings.local_ctx, settings.local_threads,
            settings.local_speculation, documents_in_flight(settings))  # fmt: skip


def _endpoint(settings: Settings, progress: Progress | None) -> contextlib.AbstractContextManager[Endpoint]:
    """Where this call's requests go: a configured server (checked each call), or the process's embedded one,
    started by the first call that needs it and kept for the next (EMBEDDED_SERVER)."""
    if not settings.uses_embedded_model:
        return open_endpoint(settings, progress)
    return EMBEDDED_SERVER.use(
        _embedded_server_key(settings),
        lambda: open_endpoint(settings, progress),
        lambda endpoint: still_serving(endpoint.base_url),
    )


def extract_batch(
    inputs: Iterable[str | Path],
    output: str | Path,
    settings: Settings | None = None,
    *,
    limit: int | None = None,
    retry_invalid: bool = False,
    overwrite: bool = False,
    cache: ResponseCache | None = None,
    observer: RunObserver | None = None,
    progress: Progress | None = None,
    batch: bool = False,
    batch_poll_s: float = 30.0,
    columns: Mapping[str, str] | None = None,
) -> RunSummary:
    """Extract every input document into `output` (JSONL) with a manifest beside it; resumable.

    An existing output is resumed only when it was made with the same work identity (weights, prompt, schema,
    request settings: llm_extract.runs.identity); otherwise it is refused unless `overwrite`. A file that is not a
    run of this tool is always refused.

    With `batch`, the documents still to do are first sent as one OpenAI Batch API job (llm_extract.runs.batch_api),
    polled every `batch_poll_s` seconds; answers that fail validation are re-asked, and documents the job
    failed are done, the normal way. The manifest's "batch" holds the job id, its status history and counts.

    `columns` maps the fields of a .csv/.tsv/.xlsx list of articles to its column names ({"text": "body"}).

    The embedded server, when it is the endpoint, stays up for the next call of this process (EMBEDDED_SERVER)."""
    paths = [Path(p) for p in inputs]
    run = functools.partial(
        _extract_into, lambda: iter_inputs(paths, columns=columns), paths, Path(output),
        settings or load_settings(), limit=limit, retry_invalid=retry_invalid, overwrite=overwrite, cache=cache,
        observer=observer, progress=progress, batch=batch, batch_poll_s=batch_poll_s,
    )  # fmt: skip
    return _outside_event_loop(run)


def _extract_into(
    read: Callable[[], Iterator[Input]],
    paths: list[Path],
    output: Path,
    settings: Settings,
    *,
    limit: int | None = None,
    retry_invalid: bool = False,
    overwrite: bool = False,
    cache: ResponseCache | None = None,
    observer: RunObserver | None = None,
    progress: Progress | None = None,
    batch: bool = False,
    batch_poll_s: float = 30.0,
) -> RunSummary:
    """extract_batch of the documents `read()` yields (read from `paths`, or given in memory)."""
    if batch and cache is not None:
        raise LLMExtractError("a Batch API run does not use the response cache: give one or the other")
    if batch and settings.fill:
        raise LLMExtractError("--fill asks after each answer, so it cannot run as a Batch API job: give one or neither")
    if batch and settings.uses_embedded_model:
        raise LLMExtractError("--batch needs a server with the Batch API (--base-url); the embedded one has none")
    if limit is not None and limit < 0:
        raise LLMExtractError(f"--limit must be 0 or more, not {limit}")
    schema, prompt = load_schema(settings.schema_name), load_prompt(settings.prompt_name)
    settings = settings_for_prompt(settings, prompt)
    store = RunStore(output)
    store.check_target(paths)
    token_limit = prompt_limit(settings)
    identity = WorkIdentity.of(settings, prompt, schema)

    answers = identity.without_fill()  # what the first answer and each fill are cached by

    def runner_for(endpoint: Endpoint) -> BatchRunner:
        extractor: RecordExtractor = make_extractor(endpoint, settings)
        if cache is not None:
            extractor = CachingExtractor(extractor, cache, answers)
        if settings.fill:
            filler: RecordExtractor = make_extractor(endpoint, settings, one_record=True)
            if cache is not None:
                filler = CachingExtractor(filler, cache, answers, per_message=True)
            extractor = FillingExtractor(extractor, filler, load_fill(settings.fill))
        return BatchRunner(extractor, store, identity, documents_in_flight(settings), retry_invalid, token_limit,
                           overwrite=overwrite)  # fmt: skip

    with store.locked(), _terminate_as_interrupt():
        _check_previous_run(store, identity, overwrite)
        offline = planned_endpoint(settings)
        offline_runner = runner_for(offline)  # builds a client, connects nowhere
        if batch or _needs_model(offline_runner, read, limit):
            endpoint_context = _endpoint(settings, progress)
        else:
            endpoint_context = contextlib.nullcontext(offline)
        with endpoint_context as endpoint, contextlib.ExitStack() as stack:
            runner = offline_runner if endpoint == offline else runner_for(endpoint)  # a remote server: the same
            manifest = _manifest(settings, endpoint, prompt, schema, identity, [str(p) for p in paths], token_limit)
            previous_batch = _previous_batch(store) if batch else None
            store.write_manifest(manifest)
            if batch:

                def batch_update(report: dict[str, Any]) -> None:
                    manifest["batch"] = report
                    store.write_manifest(manifest)
                    if progress and report["status_history"]:
                        progress(f"Batch API job {report['id']}: {report['status_history'][-1]['status']}")

                assert isinstance(runner.extractor, Extractor)
                manifest["batch"] = None  # stays None when nothing was left to submit
                batch_client = make_sync_client(endpoint, settings)
                stack.callback(batch_client.close)
                submitter = BatchSubmitter(
                    runner.extractor, batch_client, batch_poll_s, batch_update, previous=previous_batch
                )
                runner.prefetch = submitter.run
            stats: RunStats | None = None
            try:
                stats = runner.run(read, limit=limit, observer=observer)
                manifest["status"] = "aborted" if stats.aborted else "complete"
            except BaseException:
                manifest["status"] = "interrupted"
                raise
            finally:
                manifest["ended_at"] = now_iso()
                if stats is not None:
                    manifest["invocation"] = stats.as_dict()
                manifest["counts"] = file_totals(read_lines(store.path)[0])  # every invocation's lines
                store.write_manifest(manifest)
    assert stats is not None
    return RunSummary(output=store.path, manifest_path=store.manifest_path, manifest=manifest, stats=stats)


def extract_text(
    text: str,
    settings: Settings | None = None,
    *,
    published: str | None = None,
    doc_id: str = "text",
    url: str | None = None,
    source: str | None = None,
) -> RunLine:
    """Extract one article held in memory and return its run line, exactly as `extract_batch` would store it.

    The same runner does the work (validation, re-asks, salvage, a too-long article refused or chunked alike),
    and the line carries what the CLI's does beside the records: `grounding`, `ungrounded`, `normalized`,
    `anchor` (extraction/annotate.py). `published` (an ISO date) anchors relative dates such as "on Wednesday";
    an empty text or a `published` that is not a date gives a failure line (status "error"), as in a run.
    The embedded server, when it is the endpoint, is started by the first call and reused by the next ones."""
    settings = settings or load_settings()
    # As a JSONL line with these fields is read: an empty text, or a `published` that is not a date, is the
    # same failure line, made before any model call.
    fields = {"id": doc_id, "text": text, "published": published, "url": url, "source": source}
    document = record_document(fields, "<memory>", [])
    with tempfile.TemporaryDirectory(prefix="llm-extract-text-") as scratch:
        output = Path(scratch) / "text.jsonl"
        _outside_event_loop(functools.partial(_extract_into, lambda: iter([document]), [], output, settings))
        lines, _torn = read_lines(output)
    if len(lines) != 1:
        raise LLMExtractError(f"the extraction of {doc_id!r} stored {len(lines)} lines instead of one")
    return lines[0]


async def extract_one(extractor: Extractor, request: ExtractionRequest) -> ExtractionResult:
    """One request in its own event loop's lifetime: the client is closed before the loop ends."""
    try:
        return await extractor.extract(request)
    finally:
        await extractor.aclose()


@dataclass
class DryRunItem:
    doc_id: str
    origin: str
    chars: int | None
    estimated_prompt_tokens: int | None
    error: str | None
    messages: list[dict[str, str]] | None


def dry_run(
    inputs: Iterable[str | Path],
    settings: Settings | None = None,
    limit: int | None = None,
    columns: Mapping[str, str] | None = None,
) -> list[DryRunItem]:
    """Render every request without calling any model: what would be sent, and about how many tokens."""
    settings = settings or load_settings()
    load_schema(settings.schema_name)  # an unknown schema is an error here too, before anything is rendered
    prompt = load_prompt(settings.prompt_name)
    token_limit = prompt_limit(settings)
    items: list[DryRunItem] = []
    for item in iter_inputs((Path(p) for p in inputs), columns=columns):
        if limit is not None and len(items) >= limit:
            break
        if isinstance(item, InputFailure):
            items.append(DryRunItem(item.id, item.origin, None, None, item.reason, None))
            continue
        request = build_request(item, prompt)
        too_long = token_limit.refusal(request) if token_limit else None
        if too_long and token_limit:  # the run will send it in chunks, or refuse it with both reasons
            try:
                too_long = f"{too_long}: will be sent in {len(plan_chunks(item, prompt, token_limit).chunks)} chunks"
            except ChunkingError as exc:
                too_long = f"{too_long}; cannot be chunked: {exc}"
        items.append(
            DryRunItem(
                item.id, item.origin, len(item.text), estimate_tokens(request.messages), too_long, request.messages
            )
        )
    return items


@dataclass
class EvalOutcome:
    report: EvalReport
    comparison: Comparison
    report_json: Path
    report_md: Path
    run_path: Path
    warnings: list[str]  # run lines skipped ("file:line: reason"), and a run that scored nothing

    @property
    def scored_nothing(self) -> bool:
        """No gold document has an ok line in the run: its scores are zeros that mean nothing."""
        return not self.report.run.ok_in_gold


def store_baseline(outcome: EvalOutcome, suite: Suite) -> Path:
    """Write the report as the suite's baseline, unless the run scored no document (a baseline of zeros
    would let any later regression pass the gate)."""
    if outcome.scored_nothing:
        raise LLMExtractError(
            f"not updating the baseline {suite.baseline_path}: no document of {outcome.run_path} came back ok "
            f"for the gold of suite {suite.name}; score a run that extracted the suite's documents"
        )
    suite.baseline_path.write_text(outcome.report_json.read_text())
    return suite.baseline_path


def store_reference(outcome: EvalOutcome, suite: Suite) -> Path:
    """Keep the eval's run (and its manifest) as the suite's plain reference run. Only a run of a reference
    prompt (`reference = true`) over the suite's documents qualifies: anything else would make every report's
    "plain" column a lie."""
    if suite.reference_path is None:
        raise SuiteError(f"suite {suite.name} names no reference run: add [reference] prompt and run to its suite.toml")
    manifest = read_manifest(outcome.run_path) or {}
    prompt_name = (manifest.get("prompt") or {}).get("name")
    prompt_path = (manifest.get("prompt") or {}).get("path")
    try:
        is_reference = prompt_path is not None and load_prompt(prompt_path).reference
    except LLMExtractError:
        is_reference = False
    if not is_reference:
        raise LLMExtractError(
            f"not storing {outcome.run_path} as the reference of suite {suite.name}: its prompt {prompt_name!r} is "
            f"not a plain reference prompt; run `llm-extract eval {suite.name} --plain --update-reference`"
        )
    if outcome.scored_nothing:
        raise LLMExtractError(f"not storing the reference: no document of {outcome.run_path} came back ok")
    suite.reference_path.parent.mkdir(parents=True, exist_ok=True)
    for source, target in (
        (outcome.run_path, suite.reference_path),
        (manifest_path_for(outcome.run_path), manifest_path_for(suite.reference_path)),
    ):
        if source.is_file():
            shutil.copyfile(source, target)
    return suite.reference_path


def _read_baseline(path: Path, suite: Suite) -> EvalReport:
    """A stored report to gate on; a file that is not one is an error naming it, not a traceback."""
    try:
        return EvalReport.load(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SuiteError(f"cannot read the baseline {path} ({exc}); rewrite it with `llm-extract eval "
                         f"{suite.name} --update-baseline`") from exc  # fmt: skip
    except ReportFormatError as exc:
        raise SuiteError(f"{path} is not an eval report ({exc}); give the report.json of an eval") from exc


def _kept_gold(gold: Path, out_dir: Path) -> Path:
    """A gold that is a pipe (`--gold <(sed -n 101,150p gold.jsonl)`) reads once, while the run and the plain
    reference are each scored against it: keep what it gives in the output folder and score against that."""
    kept = out_dir / "gold.jsonl"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(gold.read_bytes())
    except OSError as exc:
        raise OutputError(f"cannot keep the gold {gold} in --out {out_dir}: {exc.strerror or exc}") from exc
    return kept


def evaluate_suite(
    suite: str | Path | Suite,
    settings: Settings | None = None,
    *,
    run: Path | None = None,
    out_dir: Path | None = None,
    baseline: Path | None = None,
    scope: str | None = None,
    gold: Path | None = None,
    documents: Path | None = None,
    observer: RunObserver | None = None,
    progress: Progress | None = None,
) -> EvalOutcome:
    """Score a suite: an existing run (`run`, no model involved), or a fresh extraction of the suite's
    documents through the response cache. Writes report.json and report.md; applies the suite's gate.

    `gold` scores against another gold file in the suite's format (e.g. another split), with that split's
    `documents` to extract; `run` may also be another system's predictions (the "gtt" profile reads
    its template JSON)."""
    if run is not None and not Path(run).is_file():  # before anything is written: no report of zeros
        raise LLMExtractError(
            f"no run at {run}: give --run the JSONL written by `llm-extract extract -o`, or leave --run out "
            "to extract the suite's documents"
        )
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    settings = settings or load_settings(schema_name=suite.schema, prompt_name=suite.prompt, fill=suite.fill)
    out_dir = out_dir or suite.default_out_dir  # ./runs/eval/<suite>/: never the suite folder
    if out_dir.exists() and not out_dir.is_dir():
        raise LLMExtractError(f"--out {out_dir} is a file; give a folder for run.jsonl, report.json and report.md")
    if run is None:
        run = out_dir / "run.jsonl"
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            for stale in (run, manifest_path_for(run)):
                stale.unlink(missing_ok=True)  # a fresh run each time: the response cache spares the model
        except OSError as exc:
            raise OutputError(f"cannot write in --out {out_dir}: {exc.strerror or exc}") from exc
        cache = ResponseCache(Path(settings.cache_dir) / "responses")
        inputs = [documents or suite.documents]
        extract_batch(inputs, run, settings, cache=cache, observer=observer, progress=progress)
    if gold is not None and gold.exists() and not gold.is_file():
        gold = _kept_gold(gold, out_dir)
    spec = load_schema(settings.schema_name)
    report = evaluate_run(suite, run, spec.list_field, scope, gold, shape=spec.json_schema)
    if suite.reference_path is None or Path(run).resolve() != suite.reference_path.resolve():
        reference = reference_section(suite, report, spec.list_field, scope, gold, shape=spec.json_schema)
        if reference is not None:
            report = report.with_section("reference", reference)
    if baseline is not None and not baseline.is_file():
        raise SuiteError(f"no baseline at {baseline}; store one with `llm-extract eval {suite.name} --update-baseline`")
    previous = _read_baseline(baseline, suite) if baseline is not None else None
    comparison = check_gate(report, previous, suite.gate)
    report_json, report_md = out_dir / "report.json", out_dir / "report.md"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        report_json.write_text(report.to_json())
        report_md.write_text(to_markdown(report, comparison if previous is not None else None))
    except OSError as exc:
        raise OutputError(f"cannot write the report in --out {out_dir}: {exc.strerror or exc}") from exc
    warnings = [line_warning(run, item.line, item.reason) for item in report.run.skipped_lines]
    partial = coverage_warning(report)
    if partial:
        warnings.append(partial)
    outcome = EvalOutcome(report, comparison, report_json, report_md, run, warnings)
    if outcome.scored_nothing:
        warnings.append(f"no document of {run} came back ok for the gold of suite {suite.name}: every score is 0")
    return outcome


def _run_schema(run: Path, suite: Suite | None) -> SchemaSpec:
    """The schema a stored run was made with: the suite's, else the one its manifest names, else the default."""
    if suite is not None:
        return load_schema(suite.schema)
    return recorded_schema(run) or load_schema(load_settings().schema_name)


def load_run(path: str | Path, *, skip_bad_lines: bool = False) -> list[RunLine]:
    """The lines of a stored run (`extract -o`, an eval's run.jsonl), typed: status, records, grounding,
    normalized, anchor, usage... A line of an older format reads in the current shape (runline.upgrade), and
    the records are checked against the schema the run's manifest names, as eval, review and fuse check them.

    A line that is not a run record (cut short by a kill, edited by hand) is an error naming the file, the
    line and why; with `skip_bad_lines`, a warning each, and the other lines are returned."""
    path = Path(path)
    schema = recorded_schema(path)
    run = read_run(path, schema.list_field if schema else None, schema.json_schema if schema else None)
    if run.problems and not skip_bad_lines:
        named = "; ".join(f"{path}:{problem.line}: {problem.reason}" for problem in run.problems[:3])
        more = f" (and {len(run.problems) - 3} more)" if len(run.problems) > 3 else ""
        raise LLMExtractError(
            f"{named}{more}: not a run record; fix or remove the line, or pass skip_bad_lines=True to read the rest"
        )
    for warning in run.warnings():
        warnings.warn(warning, stacklevel=2)
    return run.records


def review_run(
    run: str | Path,
    output: str | Path,
    *,
    documents: Iterable[str | Path] | None = None,
    suite: str | Path | Suite | None = None,
) -> dict[str, Any]:
    """Write the self-contained HTML review page of a stored run (no model call).

    Article texts come from `documents`, else the suite's documents, else the inputs the run's manifest
    lists; with a `suite`, its gold is compared with the run as its scorer sees it."""
    run = Path(run)
    if not run.is_file():
        raise LLMExtractError(f"no run at {run}: give the JSONL written by `llm-extract extract -o`")
    check_derived_output(Path(output), [run], "review page", lambda head: b"<title>llm-extract review" in head)
    loaded = suite if isinstance(suite, Suite) or suite is None else load_suite(suite)
    paths = None if documents is None else [Path(p) for p in documents]
    return write_review(run, Path(output), _run_schema(run, loaded), paths, loaded)


def compare_runs(
    run_a: str | Path, run_b: str | Path, suite: str | Path | Suite, *, only_different: bool = False
) -> RunComparison:
    """Score two stored runs against a suite's gold and line them up document by document (no model call)."""
    for run in (run_a, run_b):
        if not Path(run).is_file():
            raise LLMExtractError(f"no run at {run}: give the JSONL written by `llm-extract extract -o`")
    return _compare_runs(Path(run_a), Path(run_b), suite, only_different=only_different)


def write_compare_page(comparison: RunComparison, output: str | Path) -> Path:
    """Write the side-by-side HTML page of a comparison; like the review page, it replaces only a page of its own
    kind and never one of the runs."""
    output = Path(output)
    runs = [Path(comparison.report_a.run.path), Path(comparison.report_b.run.path)]
    check_derived_output(output, runs, "compare page", lambda head: b"<title>llm-extract compare" in head)
    atomic_write(output, render_compare(comparison).encode("utf-8"))
    return output


def review_app(
    run: str | Path,
    *,
    documents: Iterable[str | Path] | None = None,
    suite: str | Path | Suite | None = None,
    who: str = "reviewer",
    host: str = "127.0.0.1",
    compare_with: str | Path | None = None,
) -> Starlette:
    """The review workbench of a stored run (an ASGI app: serve it with review.server.serve or any ASGI server).
    Decisions are kept in RUN.review.sqlite beside the run; the run itself is never written; no model call."""
    run = Path(run)
    if not run.is_file():
        raise LLMExtractError(f"no run at {run}: give the JSONL written by `llm-extract extract -o`")
    loaded = suite if isinstance(suite, Suite) or suite is None else load_suite(suite)
    return make_app(
        run, CorrectionStore.beside(run), spec=_run_schema(run, loaded),
        documents=None if documents is None else [Path(p) for p in documents], suite=loaded, who=who,
        hosts=(*LOOPBACK_NAMES, host), compare_with=None if compare_with is None else Path(compare_with),
    )  # fmt: skip


def export_corrected(
    run: str | Path,
    dest: str | Path,
    db: str | Path | None = None,
    *,
    overwrite: bool = False,
    table: str | None = None,
) -> ExportSummary | Path:
    """A run with the review decisions applied (`db`, default RUN.review.sqlite beside it): as a run (.jsonl, with
    its manifest) or as a table in any export format. The run file itself is never written."""
    run, dest = Path(run), Path(dest)
    database = Path(db) if db is not None else None
    if dest.suffix.lower() == ".jsonl":
        return write_corrected_run(run, dest, database, overwrite=overwrite)
    with tempfile.TemporaryDirectory(prefix="llm-extract-corrected-") as folder:
        corrected = write_corrected_run(run, Path(folder) / run.name, database)
        summary = export_file(corrected, dest, overwrite=overwrite, table=table)
    return dataclasses.replace(summary, source=run)


@dataclass
class FuseSummary:
    fusion: Fusion
    output: Path | None
    not_ok: list[str]  # documents of the runs that ended invalid or error: nothing of theirs is fused
    warnings: list[str]  # run lines skipped, as "file:line: reason"


def fuse_runs(
    runs: Iterable[str | Path], output: str | Path | None = None, config: FusionConfig | None = None
) -> FuseSummary:
    """Group the incidents of stored runs that report the same real-world event into canonical events
    (llm_extract.events.fusion), and write them to `output` as JSONL, one event a line. No model call."""
    paths = [Path(run) for run in runs]
    if output is not None:  # before any work: a refused output costs nothing
        check_derived_output(Path(output), paths, "file of fused events",
                             lambda head: head.lstrip().startswith(b"{") and b'"event_id"' in head)  # fmt: skip
    reports: list[SourceIncident] = []
    not_ok: list[str] = []
    warnings: list[str] = []
    for run in paths:
        found = run_incidents(run)  # refuses a missing or empty run; names each skipped line
        reports += found.reports
        not_ok += found.not_ok
        warnings += found.warnings
    fusion = fuse(reports, config)
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("".join(event.to_json() + "\n" for event in fusion.events))
    return FuseSummary(fusion, output, not_ok, warnings)
