"""The runner's aiohttp path for POST /chat/completions (provider.PooledHttpClient.post_bytes, structured._Route):
the same bytes on the wire as the SDK's own request, and the same answers and exceptions as the SDK gives for every
kind of answer and failure (fake server faults, a refused connection, a timeout, gzip, redirects, cookies)."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import openai
import pytest
from openai._utils._json import openapi_dumps

from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.providers.provider import MODES, PooledHttpClient, _pooled_http_client
from llm_extract.providers.structured import _route, body_bytes, send, structured_call
from llm_extract.runs import runner
from llm_extract.testing.fake_openai import DEFAULT_ANSWER, FakeOpenAI

BODY = {"messages": [{"role": "user", "content": "hé"}], "model": "fake", "temperature": 0.0}
Reply = Callable[[bytes, bytes], bytes]  # (request line, whole request) -> raw HTTP answer


def answer(content: bytes, status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status}", "content-type: application/json", f"content-length: {len(content)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + content


def completion_bytes(content: str = DEFAULT_ANSWER) -> bytes:
    message = {"role": "assistant", "content": content}
    return json.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": "fake", "usage": None,
                       "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}).encode()  # fmt: skip


async def serving(reply: Reply, seen: list[bytes], work: Callable[[str], Awaitable[Any]]) -> Any:
    """Run `work(base_url)` against a loopback server that records each raw request and answers with `reply`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))  # fmt: skip
                request = head + await reader.readexactly(length)
                seen.append(request)
                writer.write(reply(head.split(b"\r\n")[0], request))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        return await work(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    finally:
        server.close()


def ours(base_url: str, timeout: float = 30.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key="sk-k", max_retries=0, timeout=timeout,
                              http_client=_pooled_http_client(8))  # fmt: skip


def sdks(base_url: str, timeout: float = 30.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key="sk-k", max_retries=0, timeout=timeout,
                              http_client=openai.DefaultAsyncHttpxClient())  # fmt: skip


@pytest.mark.parametrize("path", ["/v1", "/proxy/v1", "/v1?api-version=2&x=%41b"])
def test_the_wire_request_is_the_sdks_byte_for_byte(path: str) -> None:
    seen: list[bytes] = []

    async def work(root: str) -> tuple[Any, Any, Any]:
        client = ours(root + path, timeout=7.5)
        theirs = await client.chat.completions.create(**BODY)  # type: ignore[call-overload]
        mine = await send(client, BODY)
        route = _route(client)
        await client.close()
        return theirs, mine, route

    theirs, mine, route = asyncio.run(serving(lambda line, request: answer(completion_bytes()), seen, work))
    assert route is not None and route.lean is not None, "the aiohttp path was taken"
    assert mine == theirs
    assert seen[0] == seen[1], (seen[0], seen[1])
    assert b"\r\nauthorization: Bearer sk-k\r\n" in seen[1] and b"x-stainless-read-timeout: 7.5" in seen[1]


def test_credentials_in_the_url_go_through_httpx() -> None:
    """httpx turns them into Basic auth: the aiohttp path is not taken, the request stays the SDK's."""
    seen: list[bytes] = []

    async def work(root: str) -> Any:
        client = ours(root.replace("http://", "http://user:p%40ss@") + "/v1")
        await send(client, BODY)
        await client.chat.completions.create(**BODY)  # type: ignore[call-overload]
        route = _route(client)
        await client.close()
        return route

    route = asyncio.run(serving(lambda line, request: answer(completion_bytes()), seen, work))
    assert route is not None and route.lean is None
    assert seen[0] == seen[1] and b"Basic dXNlcjpwQHNz" in seen[0]


def describe(outcome: Any) -> tuple[Any, ...]:
    """An outcome less the fake's clock (`created`: the two calls may fall in different seconds)."""
    if isinstance(outcome, str):
        return ("text", re.sub(r'"created": \d+', "", outcome))
    if not isinstance(outcome, BaseException):
        return ("answer", type(outcome), outcome.model_copy(update={"created": 0}))
    body = getattr(outcome, "body", None)
    status = getattr(outcome, "status_code", None)
    headers = dict(outcome.response.headers) if isinstance(outcome, openai.APIStatusError) else None
    if headers is not None:
        headers.pop("date", None)
    return type(outcome), str(outcome), status, body, headers, type(outcome.__cause__)


async def both_ways(base_url: str, timeout: float = 30.0) -> tuple[Any, Any, Any]:
    """(our outcome, the SDK's, our route): ours through send on our client, the SDK's create on its own."""
    results = []
    mine = ours(base_url, timeout)
    for client, call in ((mine, send), (sdks(base_url, timeout), None)):
        try:
            if call is None:
                results.append(await client.chat.completions.create(**BODY))  # type: ignore[call-overload]
            else:
                results.append(await call(client, BODY))
        except Exception as exc:
            results.append(exc)
        finally:
            await client.close()
    return results[0], results[1], _route(mine)


FAULTS = ["ok", "server_error", "unavailable", "rate_limit", "garbage", "invalid", "html", "error_object", "sse",
          "echo_auth", "drop", "cut_body", "retry_after_date"]  # fmt: skip


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_ends_as_with_the_sdk(fault: str) -> None:
    with FakeOpenAI(script=[fault, fault]) as fake:
        mine, theirs, route = asyncio.run(both_ways(fake.base_url))
    assert route is not None and route.lean is not None
    assert describe(mine) == describe(theirs)


def test_a_timeout_and_a_refused_connection_are_the_sdks() -> None:
    with FakeOpenAI(script=["slow", "slow"], slow_s=1.5) as fake:
        slow = asyncio.run(both_ways(fake.base_url, timeout=0.3))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once it is closed
    refused = asyncio.run(both_ways(f"http://127.0.0.1:{port}/v1"))
    for (mine, theirs, route), expected in ((slow, openai.APITimeoutError), (refused, openai.APIConnectionError)):
        assert route is not None and route.lean is not None
        assert type(mine) is type(theirs) is expected, (mine, theirs)
        assert type(mine.__cause__) is type(theirs.__cause__)
        assert str(mine.request.url) == str(theirs.request.url)
    assert isinstance(refused[0].__cause__, httpx2.ConnectError)


def test_gzip_redirects_and_cookies_are_handled_as_httpx_does() -> None:
    """A gzipped answer is decoded; a 307 is followed (through httpx, the same body again); a cookie the server sets
    is sent back on the next request, as the SDK's client does."""
    seen: list[bytes] = []

    def reply(line: bytes, request: bytes) -> bytes:
        if line.startswith(b"POST /v1/"):
            return answer(b"", "307 Temporary Redirect", ("location: /v2/chat/completions",))
        if b"cookie: k=1" not in request.lower():
            return answer(gzip.compress(completion_bytes()), headers=("content-encoding: gzip", "set-cookie: k=1"))
        return answer(completion_bytes("{}"))

    async def work(root: str) -> tuple[Any, Any, Any, Any]:
        client, sdk = ours(root + "/v1"), sdks(root + "/v1")
        first = await send(client, BODY)
        second = await send(client, BODY)
        theirs = await sdk.chat.completions.create(**BODY)  # type: ignore[call-overload]
        await client.close()
        await sdk.close()
        return first, second, theirs, _route(client)

    first, second, theirs, route = asyncio.run(serving(reply, seen, work))
    assert route is not None and route.lean is not None
    assert first == theirs and first.choices[0].message.content == DEFAULT_ANSWER
    assert second.choices[0].message.content == "{}"
    # ours: aiohttp gets the 307, httpx sends it again and follows it; then, with a cookie, httpx alone; the SDK.
    paths = [request.split(b" ")[1].split(b"/")[1] for request in seen]
    assert paths == [b"v1", b"v1", b"v2", b"v1", b"v2", b"v1", b"v2"]
    assert seen[0] == seen[1] and seen[0] == seen[5]
    assert b"cookie: k=1" in seen[4].lower() and b"cookie" not in seen[6].lower()


def test_closing_the_client_closes_the_aiohttp_pool() -> None:
    with FakeOpenAI() as fake:

        async def run() -> tuple[bool, bool]:
            client = ours(fake.base_url)
            await send(client, BODY)
            http = client._client
            assert isinstance(http, PooledHttpClient) and http._lean is not None
            session = http._lean
            await client.close()
            return session.closed, http.is_closed

        assert asyncio.run(run()) == (True, True)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_body_bytes_are_openapi_dumps(mode: str) -> None:
    call = structured_call(load_schema("incident_v1").response_model, MODES[mode], openai_provider())
    messages = load_prompt("incident_v1").render("Prices rose; é 中文 \u2028 {{ x }}")
    kwargs = call.request(messages, {"model": "m", "temperature": 0.5, "max_tokens": 9, "seed": 1}, {"a": 1})
    body = {key: kwargs[key] for key in kwargs}
    assert body_bytes(body) == openapi_dumps(body)
    with pytest.raises(ValueError):
        body_bytes({**body, "temperature": float("nan")})


def openai_provider() -> Any:
    from instructor.v2.core.providers import Provider

    return Provider.OPENAI


def test_the_heap_is_frozen_once_per_run_and_left_alone_if_the_process_froze_it(monkeypatch: Any) -> None:
    monkeypatch.setattr(runner, "_FROZEN_BY_RUNNER", False)
    gc.freeze()  # the process's own
    try:
        assert runner.freeze_long_lived_heap() is False
    finally:
        gc.unfreeze()
    try:
        assert runner.freeze_long_lived_heap() is True and gc.get_freeze_count() > 0
        assert runner.freeze_long_lived_heap() is True  # a later run freezes what the earlier one left
    finally:
        gc.unfreeze()
