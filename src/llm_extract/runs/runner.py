"""The batch runner: documents in, one stored record per document out, concurrently and resumably."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from llm_extract.core.text import text_sha256
from llm_extract.extraction.annotate import annotate
from llm_extract.extraction.chunking import ChunkingError, ChunkPlan, merge_results, plan_chunks
from llm_extract.extraction.extract import ExtractionResult, PriorAnswer, RecordExtractor, Usage
from llm_extract.extraction.requests import ExtractionRequest, PromptLimit, build_request
from llm_extract.inputs.documents import Document, Input, InputFailure
from llm_extract.runs.identity import WorkIdentity
from llm_extract.runs.runline import RunLine
from llm_extract.runs.store import OutputError, RunStore

# Answers obtained before the run's own calls (a Batch API job): per doc_id, a finished result or a rejected
# answer to re-ask from; documents without one are done the normal way.
Prefetch = Callable[[list[ExtractionRequest]], dict[str, "ExtractionResult | PriorAnswer"]]


class RunObserver(Protocol):
    """Told what the run will do, then of each record as it is stored (the CLI draws progress from it)."""

    def started(self, planned: int, already_done: int) -> None: ...

    def recorded(self, record: RunLine) -> None: ...


@dataclass
class RunStats:
    """What this invocation did (the stored file may also hold records of earlier runs)."""

    planned: int = 0
    resumed: int = 0  # already done with the same text, prompt, schema and model: skipped
    dropped_lines: int = 0  # stale, failed or torn lines removed before the run
    statuses: Counter[str] = field(default_factory=Counter)
    cached: int = 0  # answered from the response cache: their tokens were spent by an earlier run
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    reasks: int = 0
    transport_retries: int = 0
    backoff_s: float = 0.0
    retry_after_capped: int = 0
    wall_s: float = 0.0
    aborted: str | None = None  # why the run stopped early (a fatal endpoint error, an unwritable output)

    def add(self, line: RunLine) -> None:
        """Count one stored line (a count an older line lacks is 0: runline.upgrade)."""
        self.statuses[str(line.status)] += 1
        if line.cached:
            self.cached += 1
            return
        self.usage.prompt_tokens += int(line.usage.prompt_tokens or 0)
        self.usage.completion_tokens += int(line.usage.completion_tokens or 0)
        self.attempts += line.attempts or 0
        self.reasks += line.reasks or 0
        self.transport_retries += line.transport_retries or 0
        self.backoff_s += line.backoff_s or 0.0
        self.retry_after_capped += line.retry_after_capped or 0

    def as_dict(self) -> dict[str, Any]:
        done = sum(self.statuses.values())
        return {
            "planned": self.planned,
            "resumed": self.resumed,
            "processed": done,
            "cached": self.cached,
            "statuses": {status: self.statuses.get(status, 0) for status in ("ok", "invalid", "error")},
            "dropped_lines": self.dropped_lines,
            "usage": self.usage.as_dict(),
            "attempts": self.attempts,
            "reasks": self.reasks,
            "transport_retries": self.transport_retries,
            "backoff_s": round(self.backoff_s, 3),
            "retry_after_capped": self.retry_after_capped,
            "wall_s": round(self.wall_s, 3),
            "docs_per_s": round(done / self.wall_s, 4) if self.wall_s else None,
            "aborted": self.aborted,
        }


FILE_TOTALS = ("statuses", "usage", "cached", "attempts", "reasks", "transport_retries", "backoff_s",
               "retry_after_capped")  # fmt: skip


def file_totals(records: Iterable[RunLine]) -> dict[str, Any]:
    """Counts over every line of a stored run (all invocations, resumed ones included): the manifest's totals,
    counted as an invocation counts its own lines (RunStats.add)."""
    totals = RunStats()
    for record in records:
        totals.add(record)
    counted = totals.as_dict()
    return {"documents": counted["processed"], **{key: counted[key] for key in FILE_TOTALS}}


_FROZEN_BY_RUNNER = False


def freeze_long_lived_heap() -> bool:
    """Keep what is alive when a run starts (modules, schemas, the SDK's, aiohttp's and instructor's classes: a
    few hundred thousand objects) out of the cycle collector's scans from then on; True if done.

    Each full collection rescanned that whole heap to find a run's few cycles: about 0.26 s of CPU per 1,000
    documents (bench/throughput.py, a full collection during or just after every run), with the event loop
    stopped meanwhile. Frozen objects are still freed by reference counting; objects made later are collected as
    usual. Not done where the process froze its heap itself, or runs with the collector off; a later run freezes
    what the earlier ones left alive."""
    global _FROZEN_BY_RUNNER
    if not gc.isenabled() or (not _FROZEN_BY_RUNNER and gc.get_freeze_count()):
        return False
    gc.collect(1)  # the young generations' garbage is not frozen with the rest (milliseconds)
    gc.freeze()
    _FROZEN_BY_RUNNER = True
    return True


class BatchRunner:
    """Feeds requests to a bounded pool of workers and stores each result as soon as it is known."""

    def __init__(
        self,
        extractor: RecordExtractor,
        store: RunStore,
        identity: WorkIdentity,
        concurrency: int,
        retry_invalid: bool = False,
        prompt_limit: PromptLimit | None = None,
        prefetch: Prefetch | None = None,
        overwrite: bool = False,
    ) -> None:
        self.extractor = extractor
        self.identity = identity
        self.overwrite = overwrite
        self.prefetch = prefetch
        self._prefetched: dict[str, ExtractionResult | PriorAnswer] = {}
        self.prompt_limit = prompt_limit
        self.store = store
        self.concurrency = concurrency
        self.retry_invalid = retry_invalid
        self.schema = extractor.schema
        self.prompt = extractor.prompt
        self.model = extractor.params.model

    def request_for(self, document: Document) -> ExtractionRequest:
        return build_request(document, self.prompt)

    def work_for(self, document: Document) -> ExtractionRequest | ChunkPlan:
        """The document's request, or its chunks when the prompt exceeds the limit: not sent whole, since the server
        would truncate it or fail without saying why. ChunkingError (with the limit) when it cannot be chunked."""
        request = self.request_for(document)
        if self.prompt_limit is None or (too_long := self.prompt_limit.refusal(request)) is None:
            return request
        try:
            return plan_chunks(document, self.prompt, self.prompt_limit)
        except ChunkingError as exc:
            raise ChunkingError(f"{too_long}; {exc}") from None

    def work_key(self, document: Document) -> str:
        """The document's work key, without rendering its request (the planning pass reads every input)."""
        return self.identity.document_key(text_sha256(document.text), document.published)

    def result_record(
        self, request: ExtractionRequest, result: ExtractionResult, chunks: list[dict[str, Any]] | None = None
    ) -> RunLine:
        return RunLine.from_result(
            request,
            result,
            list_field=self.schema.list_field,
            resume_key=self.work_key(request.document),
            model=self.model,
            prompt=self.prompt,
            schema=self.schema,
            annotate=lambda items: annotate(items, request.document, self.schema),
            chunks=chunks,
        )

    def _keeper(self, planned: dict[str, str | None], origins: dict[str, str]) -> Callable[[RunLine], bool]:
        """Which stored lines survive: finished work with the same key, and documents not in this run. A line
        whose input place (file, JSONL line) now yields another id is stale: that input was fixed."""

        def keep(line: RunLine) -> bool:
            if self.overwrite:
                return False
            if line.doc_id not in planned:
                return origins.get(str(line.origin)) in (None, line.doc_id)
            return self.is_done(line, planned[line.doc_id])

        return keep

    def is_done(self, line: RunLine | None, key: str | None) -> bool:
        """A stored line is finished work for `key`: a rerun skips its document."""
        done_statuses = {"ok"} if self.retry_invalid else {"ok", "invalid"}
        return (
            not self.overwrite
            and line is not None
            and key is not None
            and line.resume_key == key
            and line.status in done_statuses
        )

    def run(
        self, inputs: Callable[[], Iterator[Input]], limit: int | None = None, observer: RunObserver | None = None
    ) -> RunStats:
        """Process every input (the first `limit`); `inputs` is called twice: to plan, then to run."""

        def limited() -> Iterable[Input]:
            return itertools.islice(inputs(), limit)

        freeze_long_lived_heap()
        stats = RunStats()
        planned: dict[str, str | None] = {}
        origins: dict[str, str] = {}
        for item in limited():
            planned[item.id] = self.work_key(item) if isinstance(item, Document) else None
            origins[item.origin] = item.id
        stats.planned = len(planned)
        started = time.monotonic()
        try:
            with self.store.open_lines(self._keeper(planned, origins)) as opened:
                stats.dropped_lines = opened.dropped
                done = {doc_id for doc_id in opened.kept if doc_id in planned}
                if observer:
                    observer.started(len(planned), len(done))
                if self.prefetch is not None:
                    self._prefetched = self.prefetch(self._pending(limited(), done))
                asyncio.run(self._run(limited(), done, stats, observer))
        finally:
            stats.wall_s = time.monotonic() - started
        return stats

    def _pending(self, items: Iterable[Input], done: set[str]) -> list[ExtractionRequest]:
        """The requests this run will send whole (not done, readable, short enough), in input order: a Batch API
        job takes these; a document sent in chunks is done the normal way."""
        pending = []
        for item in items:
            if item.id in done or isinstance(item, InputFailure):
                continue
            request = self.request_for(item)
            if not (self.prompt_limit and self.prompt_limit.refusal(request)):
                pending.append(request)
        return pending

    async def _extract(self, request: ExtractionRequest) -> ExtractionResult:
        outcome = self._prefetched.pop(request.doc_id, None)
        if isinstance(outcome, ExtractionResult):
            return outcome
        if outcome is not None:
            return await self.extractor.extract(request, prior=outcome)
        return await self.extractor.extract(request)

    async def _extract_chunks(self, plan: ChunkPlan) -> list[ExtractionResult]:
        """A too-long document's chunks one after another (the worker's share of the concurrency), stopping at a
        fatal endpoint error."""
        results: list[ExtractionResult] = []
        for request in plan.requests:
            results.append(await self.extractor.extract(request))
            if results[-1].fatal:
                break
        return results

    def chunked_record(self, plan: ChunkPlan, results: list[ExtractionResult]) -> RunLine:
        """The one line of a document extracted in chunks: their records merged, grounded on the whole article."""
        merged = merge_results(plan, results, self.schema)
        return self.result_record(merged.request, merged.result, merged.chunks)

    async def _run(self, items: Iterable[Input], done: set[str], stats: RunStats, observer: RunObserver | None) -> None:
        """Feed the workers; every document taken ends as one stored line, whatever raises where.

        A worker never dies of one document (its failure is stored as an error line); when the output itself
        cannot be written, the run stops (stats.aborted) and what is in flight is left for a rerun. The feeder
        waits on the queue and on the workers together, so a worker that ends early can never leave it blocked.
        """
        queue: asyncio.Queue[ExtractionRequest | ChunkPlan | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        # One writer thread: lines stay whole and in order, and the event loop keeps serving requests while a
        # line is fsynced (fsync in the loop stalled every request in flight: about 5 ms a document, measured).
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-extract-writer")
        loop = asyncio.get_running_loop()

        async def store(record: RunLine) -> None:
            if stats.aborted:
                return  # the output failed: nothing more is written, what remains is redone by a rerun
            try:
                await loop.run_in_executor(writer, self.store.append, record)
            except OutputError as exc:
                stats.aborted = str(exc)
                return
            stats.add(record)
            if observer:
                with contextlib.suppress(Exception):  # a display problem must not stop the run; the line is stored
                    observer.recorded(record)

        async def process(work: ExtractionRequest | ChunkPlan) -> None:
            request = work.whole if isinstance(work, ChunkPlan) else work
            try:
                # Merging, grounding and normalisation run on the writer thread, not on the loop serving every
                # request in flight.
                if isinstance(work, ChunkPlan):
                    results = await self._extract_chunks(work)
                    record = await loop.run_in_executor(writer, self.chunked_record, work, results)
                else:
                    results = [await self._extract(request)]
                    record = await loop.run_in_executor(writer, self.result_record, request, results[0])
            except Exception as exc:  # the extractor and annotation own their errors; this is the last guard
                reason = f"unexpected {type(exc).__name__} while processing: {exc}"
                await store(RunLine.failure(InputFailure(request.doc_id, request.document.origin, reason), "internal"))
                return
            await store(record)
            fatal = next((result for result in results if result.fatal), None)
            if fatal and not stats.aborted:
                stats.aborted = f"stopped after a fatal endpoint error on {request.doc_id}: {fatal.error}"

        async def worker() -> None:
            while (work := await queue.get()) is not None:
                if not stats.aborted:  # after an abort, requests are left for a rerun, not recorded as failed
                    await process(work)

        async def feed() -> None:
            for item in items:
                if stats.aborted:
                    break
                if item.id in done:
                    stats.resumed += 1
                    continue
                if isinstance(item, InputFailure):
                    await store(RunLine.failure(item))
                    continue
                try:
                    work = self.work_for(item)
                except ChunkingError as exc:
                    refused = str(exc)
                except Exception as exc:
                    refused = f"cannot build the request: {type(exc).__name__}: {exc}"
                else:
                    await queue.put(work)
                    continue
                await store(RunLine.failure(InputFailure(item.id, item.origin, refused)))
            for _ in workers:
                await queue.put(None)

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        feeder = asyncio.create_task(feed())
        try:
            pending: set[asyncio.Task[None]] = {feeder, *workers}
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in finished:
                    if task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
        finally:
            for task in [feeder, *workers]:
                task.cancel()
            await asyncio.gather(feeder, *workers, return_exceptions=True)
            writer.shutdown(wait=True)  # a line being written is finished, never torn by us
            await self.extractor.aclose()
