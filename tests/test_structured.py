"""The once-per-run structured-output path (structured.py) against instructor's own create: the same request
bytes in every mode, and the same exceptions for every kind of answer (the cassettes match on the body)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx2
import instructor
import openai
import pytest
from instructor.v2.core.templating import apply_template

from llm_extract.extraction.extract import Extractor, RetryPolicy, SamplingParams
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.requests import build_request
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document
from llm_extract.providers.provider import MODES
from llm_extract.providers.structured import _render_plain, _route, render_content, send, structured_call
from llm_extract.testing.fake_openai import DEFAULT_ANSWER, INVALID_ANSWER

Responder = Callable[[httpx2.Request], httpx2.Response]
SCHEMA, PROMPT = load_schema("incident_v1"), load_prompt("incident_v1")
SAMPLING = {"model": "fake", "temperature": 0.0, "max_tokens": 512, "seed": 7}
ARTICLES = [
    "Two drones targeted a base in western Iraq on Wednesday.",
    "    Indented lines\n    stay as the templating leaves them\r\nwith CRLF\rand CR\n\n",
    "\tTabbed\n\t\tand nested\n\n\n",
    "Prices rose after the attack; é ü 中文 \u2028 \x0b",
    "",
]
# Articles with Jinja syntax: instructor would render them as templates (losing `{{ x }}`, failing on `{%`).
JINJA_ARTICLES = [
    "A reader wrote {{ source_text }} and {# a comment #} into the article.",
    "Prices {% if true %}rose{% endif %} after the attack.",
    "A reader's {% broken markup",
]


def completion(content: str | None, finish_reason: str = "stop", **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    return {"id": "c1", "object": "chat.completion", "created": 1, "model": "fake",
            "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}, **extra}  # fmt: skip


def tool_completion(arguments: str) -> dict[str, Any]:
    call = {"id": "t1", "type": "function", "function": {"name": "IncidentList", "arguments": arguments}}
    body = completion(None)
    body["choices"][0]["message"]["tool_calls"] = [call]
    return body


def client_with(respond: Responder, sent: list[bytes]) -> openai.AsyncOpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request.read())
        return respond(request)

    http_client = openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(handler))
    return openai.AsyncOpenAI(base_url="http://fake.test/v1", api_key="k", max_retries=0, http_client=http_client)


def both(mode: str, messages: list[dict[str, str]], respond: Responder, text: str) -> tuple[Any, Any, bytes, bytes]:
    """(instructor's outcome, ours, the body instructor sent, ours): an outcome is a result or the exception."""
    sent: list[bytes] = []
    context = {"source_text": text}

    async def run() -> tuple[Any, Any, bytes, bytes]:
        raw = client_with(respond, sent)
        patched = instructor.from_openai(raw, mode=MODES[mode])
        call = structured_call(SCHEMA.response_model, MODES[mode], patched.provider)
        theirs: Any
        ours: Any
        try:
            theirs = await patched.chat.completions.create_with_completion(
                messages=messages,
                response_model=SCHEMA.response_model,
                max_retries=0,
                strict=False,
                context=context,
                **SAMPLING,
            )
        except Exception as exc:
            theirs = exc
        their_body = b"".join(sent)
        sent.clear()
        try:
            ours = await call.create(raw, messages, SAMPLING, context, strict=False)
        except Exception as exc:
            ours = exc
        await raw.close()
        return theirs, ours, their_body, b"".join(sent)

    return asyncio.run(run())


def reask_messages(text: str) -> list[dict[str, str]]:
    first = PROMPT.render(text)
    return [*first, {"role": "assistant", "content": INVALID_ANSWER}, {"role": "user", "content": "fix it"}]


def ok_for(mode: str) -> Responder:
    body = tool_completion(DEFAULT_ANSWER) if mode == "tools" else completion(f"```json\n{DEFAULT_ANSWER}\n```")
    if mode in ("json_schema", "json"):
        body = completion(DEFAULT_ANSWER)
    return lambda request: httpx2.Response(200, json=body)


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("article", range(len(ARTICLES)))
@pytest.mark.parametrize("reask", [False, True], ids=["first", "reask"])
def test_the_request_body_is_byte_identical_to_instructors(mode: str, article: int, reask: bool) -> None:
    text = ARTICLES[article]
    messages = reask_messages(text) if reask else PROMPT.render(text)
    theirs, ours, their_body, our_body = both(mode, messages, ok_for(mode), text)
    assert our_body == their_body and our_body
    assert not isinstance(theirs, Exception), theirs
    assert ours[0].model_dump() == theirs[0].model_dump() and isinstance(ours[0], SCHEMA.response_model)
    assert ours[1] == theirs[1]


def describe(outcome: Any) -> tuple[Any, ...]:
    if not isinstance(outcome, Exception):
        return ("ok", outcome[0].model_dump(), outcome[1])
    cause = outcome.__cause__
    return (type(outcome), str(outcome), type(cause), str(cause), getattr(outcome, "last_completion", None),
            getattr(outcome, "total_usage", None), getattr(outcome, "n_attempts", None),
            [(a.attempt_number, type(a.exception), a.completion) for a in outcome.failed_attempts or []])  # fmt: skip


ANSWERS: dict[str, Responder] = {
    "schema_invalid": lambda r: httpx2.Response(200, json=completion(INVALID_ANSWER)),
    "not_json": lambda r: httpx2.Response(200, json=completion('{"attacks": [')),
    "cut_at_max_tokens": lambda r: httpx2.Response(200, json=completion('{"attacks": [', finish_reason="length")),
    "no_choices": lambda r: httpx2.Response(200, json={"error": {"message": "overloaded"}}),
    "empty_choices": lambda r: httpx2.Response(200, json={**completion(DEFAULT_ANSWER), "choices": []}),
    "html_page": lambda r: httpx2.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
    "server_error": lambda r: httpx2.Response(500, json={"error": {"message": "boom"}}),
    "rate_limited": lambda r: httpx2.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after": "3"}),
    "not_found": lambda r: httpx2.Response(404, json={"error": {"message": "no model"}}),
}


@pytest.mark.parametrize("answer", sorted(ANSWERS))
@pytest.mark.parametrize("mode", ["json_schema", "md_json"])
def test_every_kind_of_answer_raises_what_instructor_raises(answer: str, mode: str) -> None:
    text = ARTICLES[0]
    theirs, ours, their_body, our_body = both(mode, PROMPT.render(text), ANSWERS[answer], text)
    assert our_body == their_body
    assert describe(ours) == describe(theirs)
    if isinstance(theirs, openai.APIStatusError | instructor.core.exceptions.InstructorRetryException):
        assert isinstance(ours.__cause__, type(theirs.__cause__))


@pytest.mark.parametrize("text", JINJA_ARTICLES)
def test_an_article_with_jinja_syntax_is_sent_as_written(text: str) -> None:
    theirs, ours, their_body, our_body = both("json_schema", PROMPT.render(text), ok_for("json_schema"), text)
    assert not isinstance(ours, Exception), ours
    assert json.dumps(text)[1:-1].encode() in our_body, "the article reaches the model as written"
    assert isinstance(theirs, Exception) or their_body != our_body, "instructor renders it as a template"


def test_plain_text_renders_as_instructors_jinja_templating_would() -> None:
    """Text without Jinja syntax skips the template compiler; this must be exactly what jinja + dedent make."""
    rng = random.Random(13)
    alphabet = [" ", "  ", "\t", "\n", "\r", "\r\n", "a", "bc", "é", "{", "}", "%", "#", "\x0b", "\u2028", "\x0c"]
    cases = ["", "\n", "\n\n", " \n", "a\n", "a\r\n", "  a\n  b\n", "\ta\n\t\tb"]
    cases += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(30))) for _ in range(3000)]
    checked = 0
    for text in cases:
        if any(marker in text for marker in ("{{", "{%", "{#")):
            continue
        assert _render_plain(text) == apply_template(text, {"source_text": "x"}), repr(text)
        checked += 1
    assert checked > 1000
    assert render_content("{{ source_text }}!") == "{{ source_text }}!"


def extractor_on(respond: Responder, sent: list[bytes]) -> Extractor:
    client = instructor.from_openai(client_with(respond, sent), mode=MODES["json_schema"])
    return Extractor(client, SCHEMA, PROMPT, SamplingParams("fake", 0.0, 64, None), RetryPolicy(max_reasks=1))


def test_an_answer_cut_at_max_tokens_is_reasked_with_its_usage_counted() -> None:
    """finish_reason "length": instructor's IncompleteOutputException has no total_usage; the completion's counts."""
    answers = iter([completion('{"attacks": [', finish_reason="length"), completion(DEFAULT_ANSWER)])
    sent: list[bytes] = []
    extractor = extractor_on(lambda request: httpx2.Response(200, json=next(answers)), sent)
    request = build_request(Document(id="d1", text=ARTICLES[0], origin="test"), PROMPT)
    result = asyncio.run(extractor.extract(request))
    assert result.status == "ok", result.error
    assert result.attempts == 2 and result.reasks == 1
    assert result.usage.prompt_tokens == 22 and result.usage.completion_tokens == 10
    assert "cut off at max_tokens (64)" in json.loads(sent[1])["messages"][-1]["content"]


def wire(base_url: str, first_via_sdk: bool) -> tuple[list[tuple[str, str, list[tuple[bytes, bytes]], bytes]], Any]:
    """(method, URL, headers, body) of the SDK's chat.completions.create and of our send, on one client."""
    seen: list[tuple[str, str, list[tuple[bytes, bytes]], bytes]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.method, str(request.url), list(request.headers.raw), request.read()))
        return ok_for("json_schema")(request)

    async def run() -> Any:
        http_client = openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(handler))
        raw = openai.AsyncOpenAI(base_url=base_url, api_key="sk-k", max_retries=0, timeout=7.5, http_client=http_client)
        body = {"messages": [{"role": "user", "content": "hi"}], "model": "fake", "temperature": 0.0}
        if first_via_sdk:
            await raw.chat.completions.create(**body)  # type: ignore[call-overload]
        ours = await send(raw, body)
        theirs = await raw.chat.completions.create(**body)  # type: ignore[call-overload]
        await raw.close()
        return ours, theirs, _route(raw)

    ours, theirs, route = asyncio.run(run())
    assert ours == theirs and isinstance(ours, openai.types.chat.ChatCompletion)
    return seen, route


@pytest.mark.parametrize(
    "base_url",
    ["http://fake.test/v1", "http://user:p%40ss@fake.test:8080/proxy/v1", "http://fake.test/v1?api-version=2"],
)
def test_the_direct_post_sends_the_sdks_url_headers_and_bytes(base_url: str) -> None:
    """Bearer auth, credentials and paths in the base URL, the SDK's own headers: the wire request is the SDK's."""
    seen, route = wire(base_url, first_via_sdk=True)
    assert route is not None, "the direct path was taken"
    assert seen[1] == seen[2]
    headers = {name.lower(): value for name, value in seen[1][2]}
    assert headers[b"authorization"] in (b"Bearer sk-k", b"Basic dXNlcjpwQHNz")  # httpx: URL credentials win
    assert headers[b"x-stainless-retry-count"] == b"0" and headers[b"x-stainless-read-timeout"] == b"7.5"


def test_the_direct_post_reads_the_platform_first_as_the_sdk_does() -> None:
    """The SDK's headers name the platform, which its request() reads first: send reads it the same way, so even
    the first request goes the direct way, with the SDK's headers."""
    seen, route = wire("http://fake.test/v1", first_via_sdk=False)
    assert route is not None and seen[0] == seen[1]


@pytest.mark.parametrize(
    ("error", "expected"),
    [(httpx2.ReadTimeout("slow"), openai.APITimeoutError), (httpx2.ConnectError("refused"), openai.APIConnectionError)],
)
def test_transport_errors_are_the_sdks(error: Exception, expected: type[Exception]) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise error

    async def run() -> list[BaseException]:
        http_client = openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(handler))
        raw = openai.AsyncOpenAI(base_url="http://fake.test/v1", api_key="k", max_retries=0, http_client=http_client)
        raw._platform = raw._platform or openai._base_client.get_platform()
        body = {"messages": [], "model": "fake"}
        outcomes = []
        for call in (lambda: send(raw, body), lambda: raw.chat.completions.create(**body)):  # type: ignore[call-overload]
            try:
                await call()
            except Exception as exc:
                outcomes.append(exc)
        await raw.close()
        assert _route(raw) is not None
        return outcomes

    ours, theirs = asyncio.run(run())
    assert type(ours) is type(theirs) is expected and type(ours.__cause__) is type(theirs.__cause__)
