"""The runner's HTTP client (provider._pooled_http_client): the SDK's default client, whose pool answers its
idle-connection probe from the socket it keeps; requests and the probe still behave as before."""

from __future__ import annotations

import asyncio

from httpcore2._backends.anyio import AnyIOBackend, AnyIOStream

from llm_extract.providers.provider import _pooled_http_client, _ProbedSocketBackend, _ProbedSocketStream
from llm_extract.testing.fake_openai import FakeOpenAI


def test_the_pool_keeps_sockets_and_answers_over_reused_connections() -> None:
    with FakeOpenAI(latency_s=0.0) as fake:

        async def run() -> tuple[list[int], list[bool]]:
            client = _pooled_http_client(8)
            pool = client._transport._pool  # type: ignore[attr-defined]
            assert isinstance(pool._network_backend, _ProbedSocketBackend)
            statuses = [(await client.get(f"{fake.base_url}/models")).status_code for _ in range(3)]
            streams = [connection._connection._network_stream for connection in pool.connections]
            readable = [stream.get_extra_info("is_readable") for stream in streams]
            assert all(isinstance(stream, _ProbedSocketStream) for stream in streams) and len(streams) == 1
            await client.aclose()
            return statuses, readable

        statuses, readable = asyncio.run(run())
    assert statuses == [200, 200, 200] and readable == [False]


def test_a_closed_peer_reads_as_readable_as_anyio_would_say() -> None:
    """The probe's meaning is unchanged: a peer that hung up makes the idle socket readable (then expired)."""

    async def run() -> tuple[bool, bool, bool]:
        server = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        probed = await _ProbedSocketBackend().connect_tcp("127.0.0.1", port)
        plain = await AnyIOBackend().connect_tcp("127.0.0.1", port)  # httpcore's own
        assert type(plain) is AnyIOStream
        await asyncio.sleep(0.1)
        answers = (probed.get_extra_info("is_readable"), plain.get_extra_info("is_readable"))
        await probed.aclose()
        await plain.aclose()
        server.close()
        return (*answers, probed.get_extra_info("is_readable"))

    assert asyncio.run(run()) == (True, True, True)


def test_limits_follow_the_concurrency() -> None:
    for concurrency, keepalive in ((8, 100), (300, 300)):
        pool = _pooled_http_client(concurrency)._transport._pool  # type: ignore[attr-defined]
        assert pool._max_keepalive_connections == keepalive and pool._max_connections == max(concurrency, 1000)
