"""Transport retries (tenacity) and validation re-asks, against a loopback fake OpenAI server."""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import openai
import pytest
from tenacity import RetryCallState
from tenacity.wait import wait_fixed

from llm_extract.api import extract_one, make_extractor
from llm_extract.core.config import load_settings
from llm_extract.extraction.extract import ExtractionResult
from llm_extract.extraction.requests import build_request
from llm_extract.inputs.documents import Document
from llm_extract.providers.provider import remote_endpoint
from llm_extract.providers.retry import is_transient, retry_after_seconds, wait_retry_after_or
from llm_extract.testing.fake_openai import INVALID_ANSWER, FakeOpenAI

DOC = Document(id="d1", text="Two drones targeted a base in western Iraq on Wednesday.", origin="test")


def run_one(fake: FakeOpenAI, within_s: float = 60.0, **overrides: object) -> ExtractionResult:
    """One document; a test that would wait longer than `within_s` fails instead of hanging."""
    options: dict[str, object] = {"backoff_initial": 0.01, "backoff_max": 0.05, **overrides}
    settings = load_settings(base_url=fake.base_url, model="fake", **options)
    extractor = make_extractor(remote_endpoint(settings), settings)
    request = build_request(DOC, extractor.prompt)
    return asyncio.run(asyncio.wait_for(extract_one(extractor, request), within_s))


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
        result = asyncio.run(extract_one(extractor, build_request(DOC, extractor.prompt)))
    assert result.status == "error" and result.transport_retries == 0
    assert result.fatal, "a 404 from the endpoint would hit every document: the batch should stop"
    assert json.dumps(result.error)


@pytest.mark.parametrize("fault", ["html", "error_object", "sse"])
def test_200_answers_that_are_not_completions_are_retried(fault: str) -> None:
    with FakeOpenAI(script=[fault, "ok"]) as fake:
        result = run_one(fake)
    assert result.status == "ok", result.error
    assert result.transport_retries == 1 and result.attempts == 1 and result.reasks == 0


@pytest.mark.parametrize(
    ("fault", "said"),
    [("html", "an HTML page"), ("error_object", "an error object"), ("sse", "an event stream")],
)
def test_200_non_completions_that_persist_end_as_an_error_saying_what_came(fault: str, said: str) -> None:
    with FakeOpenAI(script=[fault] * 5) as fake:
        result = run_one(fake, max_retries=2)
    assert result.status == "error" and not result.fatal
    assert result.transport_retries == 2 and fake.served[fault] == 3
    assert said in (result.error or "") and "after 2 retries" in (result.error or "")


def _retry_after(value: str) -> float | None:
    return retry_after_seconds(_rate_limit({"retry-after": value}))


@pytest.mark.parametrize("value", ["-7", "soon", "nan", "NaN", "inf", "-inf", "1e400", "", "  "])
def test_unusable_retry_after_values_are_ignored(value: str) -> None:
    assert _retry_after(value) is None
    assert retry_after_seconds(_rate_limit({"retry-after-ms": value})) is None


def test_retry_after_in_the_past_means_now_and_far_future_is_parsed_uncapped() -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert _retry_after(past) == 0.0
    assert _retry_after("99999") == 99999.0
    later = format_datetime(datetime.now(UTC) + timedelta(days=3), usegmt=True)
    assert 3 * 86400 - 60 < (_retry_after(later) or 0) <= 3 * 86400


def _wait_after(exc: BaseException, cap_s: float) -> float:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.set_exception((type(exc), exc, None))
    return wait_retry_after_or(wait_fixed(0.5), cap_s)(state)


def test_the_wait_is_capped_at_backoff_max_and_junk_falls_back_to_backoff() -> None:
    assert _wait_after(_rate_limit({"retry-after": "99999"}), 2.0) == 2.0
    assert _wait_after(_rate_limit({"retry-after": "1"}), 2.0) == 1.0
    for junk in ("-7", "soon", "nan"):
        assert _wait_after(_rate_limit({"retry-after": junk}), 2.0) == 0.5  # the fallback backoff


@pytest.mark.parametrize("fault", ["retry_after_huge", "retry_after_date"])
def test_a_huge_retry_after_is_capped_and_counted(fault: str) -> None:
    with FakeOpenAI(script=[fault, "ok"]) as fake:
        started = time.monotonic()
        result = run_one(fake, within_s=20, backoff_max=0.05)
    assert time.monotonic() - started < 10
    assert result.status == "ok", result.error
    assert result.transport_retries == 1 and result.backoff_s == pytest.approx(0.05)
    assert result.retry_after_capped == 1


def test_capped_waits_are_named_in_the_error_line() -> None:
    with FakeOpenAI(script=["retry_after_huge"] * 3) as fake:
        result = run_one(fake, within_s=20, max_retries=2, backoff_max=0.05)
    assert result.status == "error"
    assert "2 Retry-After waits cut to backoff_max (0.05 s)" in (result.error or "")


@pytest.mark.parametrize("fault", ["retry_after_negative", "retry_after_junk", "retry_after_nan"])
def test_unusable_retry_after_falls_back_to_backoff_and_stays_valid_json(fault: str) -> None:
    with FakeOpenAI(script=[fault, "ok"]) as fake:
        result = run_one(fake, backoff_initial=0.02, backoff_max=0.05)
    assert result.status == "ok", result.error
    assert result.transport_retries == 1
    assert math.isfinite(result.backoff_s) and 0.02 <= result.backoff_s <= 0.05
    json.dumps(asdict(result), allow_nan=False)  # the manifest sums these: NaN would make it invalid JSON


def test_a_trickled_answer_hits_the_per_request_deadline_and_is_retried() -> None:
    # One byte every 0.2 s: each read succeeds long before the 1 s read timeout, the whole answer takes a minute.
    with FakeOpenAI(script=["trickle", "ok"], trickle_s=0.2) as fake:
        started = time.monotonic()
        result = run_one(fake, within_s=20, request_timeout=1.0)
    assert result.status == "ok", result.error
    assert result.transport_retries == 1
    assert time.monotonic() - started < 6


def test_a_server_that_always_trickles_ends_as_an_error_naming_the_deadline() -> None:
    with FakeOpenAI(script=["trickle"] * 3, trickle_s=0.2) as fake:
        result = run_one(fake, within_s=20, request_timeout=0.5, max_retries=1)
    assert result.status == "error"
    assert "deadline" in (result.error or "") and "0.5 s" in (result.error or "")
    assert result.transport_retries == 1
