"""Submitting a run's requests through the OpenAI Batch API: one JSONL upload, one job, polled to its end.

Each pending document becomes one line {"custom_id": doc_id, "method": "POST", "url": "/v1/chat/completions",
"body": ...} whose body is what the normal path sends for it (the same messages, sampling parameters and
the structured-output arguments instructor adds for the configured mode). When the job ends, each answer is
validated as the normal path validates it (instructor's parser, the schema, `{"source_text": text}` as the
validation context, and grounding when required). What comes back is, per document:

- an ok ExtractionResult (stored as is: no chat call is made for it);
- a PriorAnswer (the answer failed validation): the Extractor re-asks from it, as if it had made that call;
- nothing (the line errored, or the job failed, expired or was cancelled first): the Extractor does the
  document from the start, with its transport retries.

So every document ends as one record with the usual statuses, whatever the batch did.

Resuming: documents already stored are never submitted again (the runner only hands over pending ones). A run
killed while its job was still running, or before the job's answers were all stored, finds that job in the
previous manifest; it is taken up again (polled, downloaded) instead of submitted anew when it is still usable
(not failed, expired or cancelled) and its input file holds, for every pending document, exactly the body this
run would send. Otherwise the pending documents go in a new job.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import openai
from instructor.core.exceptions import IncompleteOutputException
from instructor.v2.core.registry import mode_registry
from instructor.v2.core.templating import handle_templating  # type: ignore[attr-defined]  # module is `# type: ignore[all]`
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.redact import scrub_text
from llm_extract.extraction.extract import (
    ExtractionResult,
    Extractor,
    PriorAnswer,
    describe_failure,
    describe_ungrounded,
    truncation_problem,
    validation_context,
)
from llm_extract.extraction.requests import ExtractionRequest
from llm_extract.runs.runline import now_iso

ENDPOINT: Final = "/v1/chat/completions"
TERMINAL = {"completed", "failed", "expired", "cancelled"}
UNUSABLE = TERMINAL - {"completed"}

Outcome = ExtractionResult | PriorAnswer


def _handlers(extractor: Extractor) -> Any:
    """The instructor handlers the extractor's own client uses (same provider, same mode)."""
    return mode_registry.get_handlers(extractor.client.provider, extractor.client.mode)


def request_body(extractor: Extractor, request: ExtractionRequest) -> dict[str, Any]:
    """The chat-completions body the normal path sends for `request` (its first attempt): the steps instructor's
    patched create takes before calling the SDK (prepare the model, the mode's request handler, message
    conversion, templating with the validation context)."""
    client, handlers = extractor.client, _handlers(extractor)
    kwargs: dict[str, Any] = {
        "messages": [dict(message) for message in request.messages],
        **extractor.params.as_kwargs(),
    }
    _, body = handlers.request_handler(response_model=extractor.structured.model, kwargs=kwargs)
    body.pop("autodetect_images", None)
    if handlers.message_converter and "messages" in body:
        body["messages"] = handlers.message_converter(body["messages"], autodetect_images=False)
    return handle_templating(
        body, mode=client.mode, provider=client.provider, context=validation_context(request, extractor.prompt)
    )


def _pause(seconds: float) -> None:
    time.sleep(seconds)


@dataclass
class BatchReport:
    """What the manifest records of the job."""

    id: str | None = None
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    submitted: int = 0  # counts: valid (stored as is), invalid (re-asked), failed (errored or missing: redone)
    taken_up: bool = False  # the job of an interrupted earlier run, not a new one
    status_history: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"valid": 0, "invalid": 0, "failed": 0})

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input_file_id": self.input_file_id,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "submitted": self.submitted,
            "taken_up": self.taken_up,
            "status_history": self.status_history,
            "counts": dict(self.counts),
        }


class BatchSubmitter:
    """Runs one batch job for a list of requests and judges its answers (see the module docstring)."""

    def __init__(
        self,
        extractor: Extractor,
        client: openai.OpenAI,
        poll_s: float = 30.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        previous: dict[str, Any] | None = None,
    ) -> None:
        self.extractor = extractor
        self.client = client
        self.poll_s = poll_s
        self.on_update = on_update
        self.sleep = sleep
        self.previous = previous  # the "batch" entry of the previous run's manifest, if any
        self.report = BatchReport()

    def _updated(self) -> None:
        if self.on_update:
            self.on_update(self.report.as_dict())

    def _status(self, status: str) -> None:
        history = self.report.status_history
        if not history or history[-1]["status"] != status:
            history.append({"status": status, "at": now_iso()})
            self._updated()

    def input_jsonl(self, requests: list[ExtractionRequest]) -> bytes:
        lines = (
            json.dumps(
                {"custom_id": request.doc_id, "method": "POST", "url": ENDPOINT,
                 "body": request_body(self.extractor, request)},
                ensure_ascii=False,
            )
            for request in requests
        )  # fmt: skip
        return "".join(line + "\n" for line in lines).encode("utf-8")

    def _lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        text = self.client.files.content(file_id).text
        parsed = []
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict):
                parsed.append(item)
        return parsed

    def run(self, requests: list[ExtractionRequest]) -> dict[str, Outcome]:
        """Submit, poll to a terminal status, download, judge. Documents missing from the result go the normal way."""
        if not requests:
            return {}
        try:
            return self._run(requests)
        except openai.APIError as exc:
            where = f" (batch {self.report.id})" if self.report.id else ""
            reason = scrub_text(f"{type(exc).__name__}: {exc}", (self.client.api_key,))  # bodies echo headers
            raise LLMExtractError(f"the Batch API job failed{where}: {reason}") from exc

    def _take_up(self, data: bytes) -> Batch | None:
        """The previous run's job, if it can answer every pending document with this run's own bodies."""
        previous_id = (self.previous or {}).get("id")
        if not isinstance(previous_id, str):
            return None
        try:
            batch = self.client.batches.retrieve(previous_id)
            if batch.status in UNUSABLE:
                return None
            submitted = {str(item.get("custom_id")): item.get("body") for item in self._lines(batch.input_file_id)}
        except openai.APIError:
            return None  # gone, or not ours to read: submit anew
        wanted = [json.loads(line) for line in data.splitlines()]
        if any(submitted.get(item["custom_id"]) != item["body"] for item in wanted):
            return None
        self.report.taken_up = True
        self.report.status_history = list(self.previous.get("status_history") or []) if self.previous else []
        return batch

    def _run(self, requests: list[ExtractionRequest]) -> dict[str, Outcome]:
        data = self.input_jsonl(requests)
        batch = self._take_up(data)
        if batch is None:
            uploaded = self.client.files.create(file=("batch_input.jsonl", io.BytesIO(data)), purpose="batch")
            batch = self.client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h")
        self.report.id, self.report.input_file_id, self.report.submitted = batch.id, batch.input_file_id, len(requests)
        self._status(batch.status)
        while batch.status not in TERMINAL:
            (self.sleep or _pause)(self.poll_s)
            batch = self.client.batches.retrieve(batch.id)
            self._status(batch.status)
        self.report.output_file_id, self.report.error_file_id = batch.output_file_id, batch.error_file_id
        by_id = {request.doc_id: request for request in requests}
        outcomes: dict[str, Outcome] = {}
        for item in self._lines(batch.output_file_id) + self._lines(batch.error_file_id):
            request = by_id.get(str(item.get("custom_id")))
            if request is None or request.doc_id in outcomes:
                continue
            response = item.get("response") or {}
            if item.get("error") or response.get("status_code") != 200 or not isinstance(response.get("body"), dict):
                continue  # failed line: done the normal way
            outcome = self.judge(request, response["body"])
            if outcome is not None:
                outcomes[request.doc_id] = outcome
        counts = self.report.counts
        counts["valid"] = sum(isinstance(outcome, ExtractionResult) for outcome in outcomes.values())
        counts["invalid"] = len(outcomes) - counts["valid"]
        counts["failed"] = len(requests) - len(outcomes)
        self._updated()
        return outcomes

    def judge(self, request: ExtractionRequest, body: dict[str, Any]) -> Outcome | None:
        """An answer validated as the normal path validates it: an ok result, or a PriorAnswer to re-ask from."""
        extractor = self.extractor
        try:
            completion = ChatCompletion.model_validate(body)
        except ValidationError:
            return None  # not a chat completion: ask the normal way
        content = completion.choices[0].message.content if completion.choices else None
        try:
            parsed = _handlers(extractor).response_parser(
                response=completion,
                response_model=extractor.structured.model,
                validation_context=validation_context(request, extractor.prompt),
                strict=False,  # as the Extractor asks: ISO strings must validate as dates
                stream=False,
                is_async=True,
            )
        except IncompleteOutputException:
            return PriorAnswer(content, completion.usage, truncation_problem(extractor.params.max_tokens))
        except (ValidationError, json.JSONDecodeError) as exc:
            return PriorAnswer(content, completion.usage, describe_failure(exc))
        except Exception:  # any other parse surprise: the normal path decides
            return None
        data = extractor.records(parsed, request)
        ungrounded = extractor.ungrounded(data, request.document.text)
        if ungrounded:
            return PriorAnswer(content, completion.usage, describe_ungrounded(ungrounded))
        result = ExtractionResult(doc_id=request.doc_id, status="ok", data=data, attempts=1)
        result.usage.add(completion.usage)
        return result
