"""Transport retries (tenacity) and validation re-asks, against a loopback fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import openai

from llm_extract.api import extract_one, make_extractor
from llm_extract.config import load_settings
from llm_extract.documents import Document
from llm_extract.extract import ExtractionResult
from llm_extract.provider import remote_endpoint
from llm_extract.requests import build_request
from llm_extract.retry import is_transient, retry_after_seconds
from llm_extract.testing.fake_openai import INVALID_ANSWER, FakeOpenAI

DOC = Document(id="d1", text="Two drones targeted a base in western Iraq on Wednesday.", origin="test")


def run_one(fake: FakeOpenAI, **overrides: object) -> ExtractionResult:
    options: dict[str, object] = {"backoff_initial": 0.01, "backoff_max": 0.05, **overrides}
    settings = load_settings(base_url=fake.base_url, model="fake", **options)
    extractor = make_extractor(remote_endpoint(settings), settings)
    return asyncio.run(extract_one(extractor, build_request(DOC, extractor.prompt, extractor.schema, "fake")))


def test_transient_failures_are_retried_until_success() -> None:
    with FakeOpenAI(script=["rate_limit", "server_error", "unavailable", "rate_limit_bare", "drop", "ok"]) as fake:
        result = run_one(fake, max_retries=6)
    assert result.status == "ok", result.error
    assert result.data == {"attacks": [], "incidents": []}
    assert result.transport_retries == 5
    assert result.attempts == 1 and result.reasks == 0
    assert sum(fake.served.values()) == 6


def test_body_cut_short_is_retried_as_a_transport_fault() -> None:
    with FakeOpenAI(script=["cut_body", "ok"]) as fake:
        result = run_one(fake)
    assert result.status == "ok", result.error
    assert result.transport_retries == 1 and fake.served["cut_body"] == 1


def test_timeouts_are_retried() -> None:
    with FakeOpenAI(script=["slow", "ok"], slow_s=2.0) as fake:
        result = run_one(fake, request_timeout=0.5)
    assert result.status == "ok", result.error
    assert result.transport_retries == 1


def test_garbage_body_is_retried_as_a_transport_fault() -> None:
    with FakeOpenAI(script=["garbage", "ok"]) as fake:
        result = run_one(fake)
    assert result.status == "ok", result.error
    assert result.transport_retries == 1


def test_retries_are_bounded_and_the_error_is_reported() -> None:
    with FakeOpenAI(script=["server_error"] * 10) as fake:
        result = run_one(fake, max_retries=2)
    assert result.status == "error"
    assert "InternalServerError" in (result.error or "")
    assert fake.served["server_error"] == 3  # the first try and two retries, no more
    assert result.transport_retries == 2


def test_invalid_answer_is_reasked_with_only_the_latest_failure_in_context() -> None:
    with FakeOpenAI(script=["invalid", "truncated", "ok"]) as fake:
        result = run_one(fake, max_reasks=2)
    assert result.status == "ok", result.error
    assert result.attempts == 3 and result.reasks == 2 and result.transport_retries == 0
    assert result.usage.prompt_tokens == 300 and result.usage.completion_tokens == 60  # summed over attempts
    first, second, third = (request["messages"] for request in fake.requests)
    assert len(first) == 2
    assert len(second) == 4 and second[2] == {"role": "assistant", "content": INVALID_ANSWER}
    assert "incidents.0" in second[3]["content"]
    assert len(third) == 4, "the context must not grow with each re-ask"
    assert third[2]["content"] != INVALID_ANSWER and "Invalid JSON" in third[3]["content"]


def test_reasks_are_bounded_and_the_last_output_kept() -> None:
    with FakeOpenAI(script=["invalid"] * 5) as fake:
        result = run_one(fake, max_reasks=1)
    assert result.status == "invalid"
    assert result.attempts == 2 and fake.served["invalid"] == 2
    assert result.last_output == INVALID_ANSWER
    assert "failed validation" in (result.error or "")


def _rate_limit(headers: dict[str, str]) -> openai.RateLimitError:
    request = httpx.Request("POST", "http://x/v1/chat/completions")
    return openai.RateLimitError("slow down", response=httpx.Response(429, headers=headers, request=request), body=None)


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds(_rate_limit({"retry-after": "7"})) == 7.0
    assert retry_after_seconds(_rate_limit({"retry-after-ms": "1500"})) == 1.5
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= (retry_after_seconds(_rate_limit({"retry-after": in_a_minute})) or 0) <= 60
    assert retry_after_seconds(_rate_limit({})) is None
    assert is_transient(_rate_limit({}))


def test_retry_after_is_honoured() -> None:
    # The fake sends Retry-After: 0; with a 30 s exponential backoff configured, only honouring
    # the header lets this finish at once.
    with FakeOpenAI(script=["rate_limit", "ok"]) as fake:
        started = time.monotonic()
        result = run_one(fake, backoff_initial=30.0, backoff_max=30.0)
    assert time.monotonic() - started < 10
    assert result.status == "ok" and result.transport_retries == 1 and result.backoff_s == 0.0


def test_client_errors_are_not_retried() -> None:
    with FakeOpenAI(script=["ok"]) as fake:
        settings = load_settings(base_url=fake.base_url + "/nowhere", model="fake", backoff_initial=0.01)
        extractor = make_extractor(remote_endpoint(settings), settings)
        result = asyncio.run(extract_one(extractor, build_request(DOC, extractor.prompt, extractor.schema, "fake")))
    assert result.status == "error" and result.transport_retries == 0
    assert result.fatal, "a 404 from the endpoint would hit every document: the batch should stop"
    assert json.dumps(result.error)
