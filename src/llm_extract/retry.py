"""Transport retry policy (tenacity): 429, 5xx, timeouts and dropped connections, with backoff.

Kept apart from validation re-asks (extract.py): a transport retry re-sends the same request, a
re-ask sends a new one. The OpenAI SDK's own retries are off, so this is the only policy in force.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import openai
from instructor.core.exceptions import InstructorRetryException
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

RETRY_AFTER_CAP_S = 600.0  # never sleep longer than this on a server's say-so
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def root_cause(exc: BaseException) -> BaseException:
    """Instructor wraps every failure of an attempt; the cause says what really happened."""
    if isinstance(exc, InstructorRetryException) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def is_garbled_response(exc: BaseException) -> bool:
    """The HTTP body itself was not JSON (a proxy's error page, a cut connection): not the model's answer."""
    return (
        isinstance(exc, InstructorRetryException)
        and exc.last_completion is None
        and isinstance(exc.__cause__, json.JSONDecodeError)
    )


def is_transient(exc: BaseException) -> bool:
    """True for failures that the same request may survive later."""
    if is_garbled_response(exc):
        return True
    cause = root_cause(exc)
    if isinstance(cause, openai.APIStatusError):
        return cause.status_code in _TRANSIENT_STATUS or cause.status_code >= 500
    return isinstance(cause, openai.APIConnectionError | openai.APIResponseValidationError)


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's Retry-After (seconds or HTTP date) or retry-after-ms, if it sent one."""
    cause = root_cause(exc)
    response = getattr(cause, "response", None)
    if response is None:
        return None
    headers = response.headers
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


class wait_retry_after_or(wait_base):
    """Honour Retry-After when the server sends it; otherwise fall back to exponential backoff with jitter."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = retry_after_seconds(exc) if exc else None
        if hinted is not None:
            return min(hinted, RETRY_AFTER_CAP_S)
        return self.fallback(retry_state)


def transport_retrying(
    max_retries: int,
    backoff_initial: float,
    backoff_max: float,
    on_retry: Callable[[BaseException, float], Any] | None = None,
) -> AsyncRetrying:
    """A tenacity policy for one request: `max_retries` retries after the first try, transient errors only."""

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None and state.next_action is not None:
            on_retry(state.outcome.exception(), state.next_action.sleep)

    return AsyncRetrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_retry_after_or(
            wait_exponential_jitter(multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial)
        ),
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )
