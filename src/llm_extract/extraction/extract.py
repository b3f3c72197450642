"""The extraction loop for one request: transport retries inside, validation re-asks outside.

A re-ask sends the original messages plus only the latest failed answer and its errors, so the
context never grows with the number of attempts. Token usage is summed over every attempt.

With `require_grounding`, an answer whose key values (the schema's KEY_FIELDS) do not occur in the text is
re-asked like any invalid answer, naming the values, and reported as invalid if the re-asks run out.

Every HTTP attempt has a wall-clock deadline (request_timeout): the client's own timeout is per read, and a
server trickling its answer a byte at a time would never trip it. Error text and rejected answers are
scrubbed of secrets (redact.py) before they leave the extractor: servers echo the Authorization header.

Validation sees the document: schemas get `{"source_text": <the document text>}` as pydantic's
validation context, so a validator can insist that copied spans really occur in the text.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import instructor
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from pydantic import BaseModel, ValidationError

from llm_extract.core.redact import scrub_optional
from llm_extract.extraction.annotate import anchor_for, ungrounded_key_values
from llm_extract.extraction.grounding import Span
from llm_extract.extraction.prompts import Message, PromptTemplate
from llm_extract.extraction.requests import ExtractionRequest
from llm_extract.extraction.resolve import resolve_records
from llm_extract.extraction.salvage import salvage
from llm_extract.extraction.schema_loader import SchemaSpec
from llm_extract.inputs.documents import Document
from llm_extract.inputs.sentences import cite
from llm_extract.providers.retry import (
    RequestDeadlineExceeded,
    describe_garbled,
    is_garbled_response,
    retry_after_seconds,
    root_cause,
    transport_retrying,
)
from llm_extract.providers.structured import StructuredCall, structured_call

Status = Literal["ok", "invalid", "error"]
VALIDATION_CONTEXT_KEY = "source_text"  # what schema validators find in pydantic's ValidationInfo.context


def validation_context(request: ExtractionRequest, prompt: PromptTemplate | None = None) -> dict[str, Any]:
    """What an answer's validators may check it against: the article, and how many sentences it was shown with;
    nothing for a plain reference prompt (a plain instructor call has no context, so no value is checked)."""
    if prompt is not None and prompt.reference:
        return {}
    context: dict[str, Any] = {VALIDATION_CONTEXT_KEY: request.document.text}
    if request.sentences:
        context["sentence_count"] = len(request.sentences)
    return context


MAX_ERRORS_SHOWN = 12
MAX_RAW_KEPT = 8000
# Errors no retry can mend, and that every other document would hit too: stop the batch.
FATAL = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, usage: Any) -> None:
        """Add an SDK usage object (or None, when the server sent none)."""
        if usage is not None:
            self.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
            self.completion_tokens += getattr(usage, "completion_tokens", 0) or 0

    def as_dict(self) -> dict[str, int]:
        prompt, completion = self.prompt_tokens, self.completion_tokens  # dataclasses.asdict walks: 0.1 ms a line
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@dataclass
class ExtractionResult:
    doc_id: str
    status: Status
    data: dict[str, Any] | None
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0  # model answers received (first answer plus re-asks)
    reasks: int = 0
    transport_retries: int = 0
    backoff_s: float = 0.0
    retry_after_capped: int = 0  # waits where the server's Retry-After exceeded backoff_max and was cut to it
    latency_s: float = 0.0
    error: str | None = None
    last_output: str | None = None  # the model's last rejected answer, for diagnosis
    fatal: bool = False
    cached: bool = False  # answered from the response cache, no model call
    salvaged: dict[str, Any] | None = None  # an invalid answer's valid part kept: the error and what was removed
    duplicates: list[dict[str, Any]] = field(default_factory=list)  # records dropped as repeats of another
    resolved: list[dict[str, Any]] = field(default_factory=list)  # values changed because the text did not support them
    fills: list[dict[str, Any]] | None = None  # plan lines filled by calls of their own (fill.py)

    def add_costs(self, other: ExtractionResult) -> None:
        """Count another call's tokens, attempts, retries and time as this result's (a chunk, a fill)."""
        self.usage.prompt_tokens += other.usage.prompt_tokens
        self.usage.completion_tokens += other.usage.completion_tokens
        for name in ("attempts", "reasks", "transport_retries", "backoff_s", "retry_after_capped", "latency_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.fatal = self.fatal or other.fatal


@dataclass(frozen=True)
class SamplingParams:
    model: str
    temperature: float
    max_tokens: int
    seed: int | None
    mode: str = "json_schema"  # set on the client; kept here so it is part of a request's identity

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.seed is not None:
            kwargs["seed"] = self.seed
        return kwargs


@dataclass(frozen=True)
class PriorAnswer:
    """An answer obtained elsewhere (a Batch API line) that failed validation: the extraction re-asks from it."""

    content: str | None
    usage: Any  # an SDK usage object, or None
    problem: str  # the model-readable account of why it was rejected


def truncation_problem(max_tokens: int) -> str:
    return (
        f"- the answer was cut off at max_tokens ({max_tokens}); return shorter JSON: fewer incidents, shorter quotes"
    )


@dataclass(frozen=True)
class RetryPolicy:
    max_reasks: int = 2
    max_retries: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    deadline_s: float | None = None  # wall-clock limit of one HTTP attempt; None: the client's own timeout


class NotACompletion(Exception):
    """The server kept answering 200 with something that is not a chat completion."""


def describe_failure(exc: BaseException) -> str:
    """A short, model-readable account of why an answer was rejected."""
    if isinstance(exc, ValidationError):
        lines = []
        for error in exc.errors()[:MAX_ERRORS_SHOWN]:
            where = ".".join(str(part) for part in error["loc"]) or "(root)"
            lines.append(f"- {where}: {error['msg']}")
        if exc.error_count() > MAX_ERRORS_SHOWN:
            lines.append(f"- ... and {exc.error_count() - MAX_ERRORS_SHOWN} more")
        return "\n".join(lines)
    if isinstance(exc, json.JSONDecodeError):
        return f"- the answer is not valid JSON: {exc.msg} at position {exc.pos}"
    return f"- {type(exc).__name__}: {exc}"


def describe_ungrounded(spans: list[Span]) -> str:
    """The re-ask for values the model says it copied but that are not in the article."""
    lines = [f"- {span.path}: {span.quote!r} is not in the article; copy the article's exact words, or use null/[]"
             for span in spans[:MAX_ERRORS_SHOWN]]  # fmt: skip
    if len(spans) > MAX_ERRORS_SHOWN:
        lines.append(f"- ... and {len(spans) - MAX_ERRORS_SHOWN} more")
    return "\n".join(lines)


def _content(completion: Any) -> str | None:
    try:
        return completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return None


class RecordExtractor(Protocol):
    """What the batch runner needs: an Extractor, or a wrapper such as cache.CachingExtractor."""

    schema: SchemaSpec
    prompt: PromptTemplate
    params: SamplingParams

    async def extract(self, request: ExtractionRequest, prior: PriorAnswer | None = None) -> ExtractionResult: ...

    async def aclose(self) -> None: ...


class Extractor:
    """Turns requests into validated records against one endpoint, with one schema and prompt."""

    def __init__(
        self,
        client: instructor.AsyncInstructor,
        schema: SchemaSpec,
        prompt: PromptTemplate,
        params: SamplingParams,
        policy: RetryPolicy,
        require_grounding: bool = False,
        salvage: bool = False,
        one_record: bool = False,
    ) -> None:
        self.client = client
        self.one_record = one_record  # a fill call (fill.py): exactly one record, no plan
        self.salvage = salvage
        self.schema = schema
        self.prompt = prompt
        self.params = params
        self.policy = policy
        self.require_grounding = require_grounding
        # Built once, not per request: instructor's prepared model, schema and mode arguments (structured.py).
        model = (schema.one_record_model(prompt.numbers_sentences) if one_record
                 else schema.model_for(prompt.numbers_sentences, records_only=prompt.reference))  # fmt: skip
        self.structured: StructuredCall = structured_call(model, client.mode, client.provider)
        self._sampling = {**client.kwargs, **params.as_kwargs()}  # instructor merges the client's defaults the same way

    @property
    def numbered(self) -> bool:
        """Whether the prompt shows the article's sentences numbered, so the model cites them by number."""
        return self.prompt.numbers_sentences

    def ungrounded(self, data: dict[str, Any], text: str) -> list[Span]:
        """With `require_grounding`, the schema's key values that do not occur in the text."""
        if not self.require_grounding:
            return []
        return ungrounded_key_values(data.get(self.schema.list_field) or [], text, self.schema)

    async def aclose(self) -> None:
        """Close the HTTP client inside the event loop that used it (else its cleanup fails after the loop)."""
        if self.client.client is not None:
            await self.client.client.close()

    def _secrets(self) -> tuple[str | None, ...]:
        """The key this client sends: the first thing a server's error body may echo."""
        return (getattr(self.client.client, "api_key", None),)

    def deadline_s(self) -> float | None:
        """The wall-clock limit of one attempt: the policy's, else the client's timeout (settings.request_timeout)."""
        if self.policy.deadline_s is not None:
            return self.policy.deadline_s
        timeout = getattr(self.client.client, "timeout", None)
        return float(timeout) if isinstance(timeout, int | float) and not isinstance(timeout, bool) else None

    def records(self, parsed: BaseModel, request: ExtractionRequest) -> dict[str, Any]:
        """The answer as stored: with numbered sentences, the cited numbers become the sentences' words and the
        records are validated as the schema's own (RESPONSE_MODEL)."""
        data = parsed.model_dump(mode="json")
        if not self.numbered:
            return data
        field = self.schema.list_field
        cited = cite(data.get(field) or [], self.schema.sentence_fields, request.document.text, request.sentences)
        context = validation_context(request)
        stored = self.schema.records_model if self.one_record else self.schema.response_model
        return stored.model_validate({**data, field: cited}, context=context).model_dump(mode="json")

    def _accept(self, data: dict[str, Any], result: ExtractionResult, document: Document) -> None:
        """Store an accepted answer (as `records` gives it) with the schema's RESOLVED_FIELDS resolved against the
        document and less the repeats its SAME_RECORD finds (a plain reference has neither step, as a plain call)."""
        if not self.prompt.reference:
            field = self.schema.list_field
            records = data.get(field) or []
            changes = resolve_records(records, document.text, self.schema, anchor_for(document))
            result.resolved = [change.as_dict() for change in changes]
            kept, result.duplicates = self.schema.deduplicate(records)
            data = {**data, field: kept}
        result.status, result.data, result.error = "ok", data, None

    async def _call(
        self, messages: list[Message], request: ExtractionRequest, result: ExtractionResult
    ) -> tuple[BaseModel, Any]:
        """One model answer, with transport failures retried by the tenacity policy."""

        def on_retry(exc: BaseException, sleep_s: float) -> None:
            result.transport_retries += 1
            result.backoff_s += sleep_s
            hinted = retry_after_seconds(exc)
            if hinted is not None and hinted > self.policy.backoff_max:
                result.retry_after_capped += 1

        retrying = transport_retrying(
            self.policy.max_retries, self.policy.backoff_initial, self.policy.backoff_max, on_retry
        )
        deadline = self.deadline_s()
        async for attempt in retrying:
            with attempt:
                try:
                    async with asyncio.timeout(deadline):
                        return await self._create(messages, request)
                except TimeoutError as exc:
                    assert deadline is not None  # asyncio.timeout(None) never expires
                    raise RequestDeadlineExceeded(deadline) from exc
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def _create(self, messages: list[Message], request: ExtractionRequest) -> tuple[BaseModel, Any]:
        """One instructor attempt through the once-per-run template and parser (re-asks are ours, in extract).
        strict=False: JSON has no date type, so ISO strings must validate as dates."""
        context = validation_context(request, self.prompt)
        client = self.client.client
        assert client is not None  # instructor.from_openai (provider.make_client) keeps the SDK client
        return await self.structured.create(client, messages, self._sampling, context, strict=False)

    def _rejected(
        self, request: ExtractionRequest, result: ExtractionResult, failed_output: str | None, usage: Any, problem: str
    ) -> list[Message]:
        """Account for a rejected answer; the messages of the re-ask about it."""
        result.attempts += 1
        result.usage.add(usage)
        result.status, result.error = "invalid", f"failed validation:\n{problem}"
        result.last_output = failed_output[:MAX_RAW_KEPT] if failed_output else failed_output
        return [
            *request.messages,
            {"role": "assistant", "content": failed_output or ""},
            {"role": "user", "content": self.prompt.render_reask(problem)},
        ]

    async def extract(self, request: ExtractionRequest, prior: PriorAnswer | None = None) -> ExtractionResult:
        """`prior`: a first answer already received elsewhere and rejected; the loop goes on with its re-ask."""
        result = ExtractionResult(doc_id=request.doc_id, status="error", data=None)
        started = time.monotonic()
        messages = request.messages
        first_round = 0
        failed_output = prior.content if prior is not None else None  # the latest rejected answer, whole
        if prior is not None:
            messages = self._rejected(request, result, prior.content, prior.usage, prior.problem)
            first_round = 1
        try:
            for round_number in range(first_round, self.policy.max_reasks + 1):
                result.reasks = round_number
                try:
                    parsed, completion = await self._call(messages, request, result)
                except IncompleteOutputException as exc:  # it has no total_usage: one attempt, so its completion's
                    failed_output = _content(exc.last_completion)
                    completion_usage = getattr(exc.last_completion, "usage", None)
                    problem = truncation_problem(self.params.max_tokens)
                except InstructorRetryException as exc:
                    if is_garbled_response(exc):
                        raise NotACompletion(f"the server answered 200 with {describe_garbled(exc)}") from exc
                    cause = root_cause(exc)
                    if exc.last_completion is None or not isinstance(cause, ValidationError | json.JSONDecodeError):
                        raise cause from exc  # no answer to re-ask about: a transport or API failure
                    failed_output, completion_usage = _content(exc.last_completion), exc.total_usage
                    problem = describe_failure(cause)
                else:
                    data = self.records(parsed, request)
                    ungrounded = self.ungrounded(data, request.document.text)
                    if not ungrounded:
                        result.attempts += 1
                        result.usage.add(getattr(completion, "usage", None))
                        self._accept(data, result, request.document)
                        return result
                    failed_output, completion_usage = _content(completion), getattr(completion, "usage", None)
                    problem = describe_ungrounded(ungrounded)
                messages = self._rejected(request, result, failed_output, completion_usage, problem)
            return self._salvaged(request, result, failed_output)
        except FATAL as exc:
            result.status, result.fatal = "error", True
            hint = " (is the model name right? did the base URL leave off /v1?)" if isinstance(
                exc, openai.NotFoundError) else ""  # fmt: skip
            result.error = f"{type(exc).__name__}: {exc}{hint}"
        except (openai.APIError, RequestDeadlineExceeded, NotACompletion) as exc:
            result.status, result.error = "error", f"{type(exc).__name__}{self._retried(result)}: {exc}"
        except Exception as exc:  # one document's surprise must not end the batch
            result.status, result.error = "error", f"unexpected {type(exc).__name__}: {exc}"
        finally:
            result.latency_s = round(time.monotonic() - started, 3)
            result.error = scrub_optional(result.error, self._secrets())
            result.last_output = scrub_optional(result.last_output, self._secrets())
        return result

    def _salvaged(self, request: ExtractionRequest, result: ExtractionResult, answer: str | None) -> ExtractionResult:
        """With `salvage`, an answer still invalid after its re-asks keeps its valid, grounded part (salvage.py)."""
        if not self.salvage or result.status != "invalid":
            return result
        text = request.document.text

        def key_values(data: dict[str, Any]) -> list[str]:  # none unless `require_grounding` (self.ungrounded)
            return [span.path for span in self.ungrounded(data, text)]

        kept = salvage(answer, self.structured.model, self.schema, validation_context(request, self.prompt), text,
                       key_values)  # fmt: skip
        if kept is None:
            return result
        # What was removed is the model's own text: scrubbed like last_output (a server may echo the key into it).
        salvaged = json.dumps({"error": result.error, "removed": [item.as_dict() for item in kept.removed]})
        result.salvaged = json.loads(scrub_optional(salvaged, self._secrets()) or "{}")
        self._accept(self.records(kept.parsed, request), result, request.document)
        return result

    def _retried(self, result: ExtractionResult) -> str:
        """How hard the transport tried, for an error line: retries, and Retry-After waits cut to backoff_max."""
        notes = [f"after {result.transport_retries} retries"] if result.transport_retries else []
        if result.retry_after_capped:
            notes.append(
                f"{result.retry_after_capped} Retry-After waits cut to backoff_max ({self.policy.backoff_max:g} s)"
            )
        return f" ({'; '.join(notes)})" if notes else ""
