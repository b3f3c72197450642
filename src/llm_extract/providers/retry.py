"""Transport retry policy (tenacity): 429, 5xx, timeouts, dropped connections and 200 answers that are not
completions (an HTML page, an `{"error": ...}` object, an unasked-for event stream), with backoff.

Kept apart from validation re-asks (extract.py): a transport retry re-sends the same request, a
re-ask sends a new one. The OpenAI SDK's own retries are off, so this is the only policy in force.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import openai
from instructor.core.exceptions import InstructorRetryException
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def root_cause(exc: BaseException) -> BaseException:
    """Instructor wraps every failure of an attempt; the cause says what really happened."""
    if isinstance(exc, InstructorRetryException) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


class RequestDeadlineExceeded(Exception):
    """No complete answer within the wall-clock deadline of one request (a server trickling its answer
    never trips the per-read timeout)."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(f"no complete answer within the {deadline_s:g} s deadline per request (request_timeout)")
        self.deadline_s = deadline_s


def is_garbled_response(exc: BaseException) -> bool:
    """A 200 whose body is not a chat completion (a proxy's or login page, an `{"error": ...}` object, an event
    stream nobody asked for, a cut connection): the server's or a middlebox's fault, not the model's answer."""
    if not isinstance(exc, InstructorRetryException):
        return False
    completion = exc.last_completion
    if completion is None:
        return isinstance(exc.__cause__, json.JSONDecodeError)
    if isinstance(completion, str | bytes):  # the SDK hands back raw text for a non-JSON content type
        return True
    return not getattr(completion, "choices", None)


def describe_garbled(exc: BaseException) -> str:
    """What the server sent instead of a completion, in a few words (the caller scrubs secrets)."""
    completion = getattr(exc, "last_completion", None)
    if completion is None:
        return "a body that is not JSON"
    if isinstance(completion, bytes):
        completion = completion.decode("utf-8", "replace")
    if isinstance(completion, str):
        head = completion.lstrip()[:200]
        if head.startswith(("data:", "event:")):
            return "an event stream (text/event-stream) although none was asked for"
        if head.startswith("<"):
            return "an HTML page"
        return f"a body that is not a completion: {head[:80]!r}"
    error = getattr(completion, "error", None) or (getattr(completion, "model_extra", None) or {}).get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, dict) else error
        return f"an error object instead of a completion: {str(message)[:200]}"
    return "a JSON body without choices"


def is_transient(exc: BaseException) -> bool:
    """True for failures that the same request may survive later."""
    if is_garbled_response(exc) or isinstance(exc, RequestDeadlineExceeded):
        return True
    cause = root_cause(exc)
    if isinstance(cause, openai.APIStatusError):
        return cause.status_code in _TRANSIENT_STATUS or cause.status_code >= 500
    return isinstance(cause, openai.APIConnectionError | openai.APIResponseValidationError)


def _parse_retry_after(value: str, scale: float) -> float | None:
    """Seconds from a header value; None for anything unusable (negative, NaN, inf, junk), so backoff applies."""
    value = value.strip()
    try:
        seconds = float(value) / scale
    except ValueError:
        if scale != 1.0 or not value:
            return None
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = max(when.timestamp() - time.time(), 0.0)  # a date already past: retry now
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's usable retry-after-ms or Retry-After (seconds or HTTP date), uncapped; None if absent or junk."""
    cause = root_cause(exc)
    response = getattr(cause, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is not None and (seconds := _parse_retry_after(value, scale)) is not None:
            return seconds
    return None


class wait_retry_after_or(wait_base):
    """Honour Retry-After when the server sends a usable one, capped at `cap_s` (the policy's backoff maximum:
    a server asking for a day must not stall a document for a day); otherwise exponential backoff with jitter."""

    def __init__(self, fallback: wait_base, cap_s: float) -> None:
        self.fallback = fallback
        self.cap_s = cap_s

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = retry_after_seconds(exc) if exc else None
        if hinted is not None:
            return min(hinted, self.cap_s)
        return self.fallback(retry_state)


def transport_retrying(
    max_retries: int,
    backoff_initial: float,
    backoff_max: float,
    on_retry: Callable[[BaseException, float], Any] | None = None,
) -> AsyncRetrying:
    """A tenacity policy for one request: `max_retries` retries after the first try, transient errors only."""

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is None or state.outcome is None or state.next_action is None:
            return
        if (error := state.outcome.exception()) is not None:
            on_retry(error, state.next_action.sleep)

    return AsyncRetrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_retry_after_or(
            wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial), backoff_max
        ),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
