"""Endpoints and clients: any OpenAI-compatible server by configuration, or the embedded local model."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import aiohttp
import anyio.abc
import httpcore2
import httpx
import httpx2
import instructor
import openai
from httpcore2._backends.anyio import AnyIOBackend, AnyIOStream
from httpcore2._backends.auto import AutoBackend
from httpcore2._utils import is_socket_readable
from pydantic import SecretStr
from yarl import URL

from llm_extract.core.config import Settings
from llm_extract.core.errors import ConfigError, LLMExtractError
from llm_extract.core.redact import scrub_text, scrub_url

EndpointKind = Literal["embedded", "openai", "openai-compatible"]
PREFLIGHT_TIMEOUT_S = 10.0
UNREACHABLE_HINT = "is the server running? did you leave off /v1?"
SDK_KEEPALIVE = 100  # idle connections openai's default pool keeps (openai._constants.DEFAULT_CONNECTION_LIMITS)

MODES: dict[str, instructor.Mode] = {
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
}


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. `details` lands in the run manifest (never the key, nor credentials in the URL)."""

    kind: EndpointKind
    base_url: str
    model: str
    api_key: SecretStr | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": scrub_url(self.base_url), "model": self.model, **self.details}


class EndpointUnreachable(LLMExtractError):
    """Nothing answers at the configured URL, or it refuses the key: no document could succeed."""


def documents_in_flight(settings: Settings) -> int:
    """Documents in flight: `concurrency`, else one per slot of the embedded server (sized from the machine),
    else 1 for a remote server, whose capacity is unknown."""
    if settings.concurrency is not None:
        return settings.concurrency
    if settings.uses_embedded_model:
        from llm_extract.providers.local_server import default_slots

        return default_slots(ctx_per_slot=settings.local_ctx)
    return 1


def preflight(endpoint: Endpoint, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """GET {base_url}/models once, so that a wrong URL or key fails in seconds with the URL and a hint, instead
    of every document spending its retries. Any HTTP answer but 401/403 means a server is there (some lack
    /models): the run goes on."""
    base, query_mark, query = endpoint.base_url.partition("?")
    url = f"{base.rstrip('/')}/models{query_mark}{query}"
    key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
    shown = scrub_url(url)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise EndpointUnreachable(f"no answer from {shown} within {timeout_s:g} s: {UNREACHABLE_HINT}") from None
    except (httpx.HTTPError, ValueError) as exc:  # refused, DNS, TLS, malformed URL
        reason = scrub_text(f"{type(exc).__name__}: {exc}", (key,))
        raise EndpointUnreachable(f"cannot reach {shown} ({reason}): {UNREACHABLE_HINT}") from None
    if response.status_code in (401, 403):
        raise EndpointUnreachable(
            f"{shown} refused the API key (HTTP {response.status_code}): check --api-key, LLM_EXTRACT_API_KEY "
            "or OPENAI_API_KEY, and that the key may use this server"
        )


def remote_endpoint(settings: Settings) -> Endpoint:
    """The configured server; refuses to guess a model name."""
    if settings.base_url is None:
        raise ConfigError("no base_url configured; the embedded model is used through open_endpoint()")
    if not settings.model:
        raise ConfigError(
            f"a model name is needed for {settings.base_url}: pass --model (or set LLM_EXTRACT_MODEL), "
            "e.g. gpt-4o-mini for OpenAI, the served model name for vLLM, or llama3.1 for Ollama"
        )
    host = urlparse(settings.base_url).hostname or ""
    kind: EndpointKind = "openai" if host == "api.openai.com" else "openai-compatible"
    return Endpoint(kind=kind, base_url=settings.base_url, model=settings.model, api_key=settings.api_key)


@contextlib.contextmanager
def open_endpoint(settings: Settings, progress: Callable[[str], None] | None = None) -> Iterator[Endpoint]:
    """Yield a usable endpoint; for the embedded model, start (and finally stop) the local server."""
    if not settings.uses_embedded_model:
        endpoint = remote_endpoint(settings)
        if settings.preflight:
            if progress:
                progress(f"checking {scrub_url(endpoint.base_url)}")
            preflight(endpoint)
        yield endpoint
        return
    from llm_extract.providers.local_model import MODEL_NAME, MODEL_SHA256, ensure_model
    from llm_extract.providers.local_server import MODEL_ALIAS, LocalServer

    if settings.model_path is not None:
        model_path, model_name, model_sha = settings.model_path, settings.model_path.name, None
        if not model_path.is_file():
            raise ConfigError(f"model_path {model_path} does not exist")
    else:
        if progress:
            progress("verifying the embedded model (sha256)")
        model_path, model_name, model_sha = ensure_model(settings.cache_dir), MODEL_NAME, MODEL_SHA256
    log_path = Path(settings.cache_dir) / "llama-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        progress("starting the local llama.cpp server")
    with LocalServer(
        model_path,
        ctx_per_slot=settings.local_ctx,
        parallel=documents_in_flight(settings),
        speculation=settings.local_speculation,
        threads=settings.local_threads,
        log_path=log_path,
    ) as server:
        yield Endpoint(
            kind="embedded",
            base_url=server.base_url,
            model=MODEL_ALIAS,
            details={"weights": model_name, "weights_sha256": model_sha, "server_log": str(log_path)},
        )


def planned_endpoint(settings: Settings) -> Endpoint:
    """The endpoint a run would use, without starting anything: for runs answered wholly from cache."""
    if settings.uses_embedded_model:
        from llm_extract.providers.local_server import MODEL_ALIAS

        return Endpoint(
            kind="embedded", base_url="http://127.0.0.1:0/v1", model=MODEL_ALIAS, details={"started": False}
        )
    return remote_endpoint(settings)


def make_client(endpoint: Endpoint, settings: Settings) -> instructor.AsyncInstructor:
    """An instructor client with the SDK's own retries off: retry.py owns that policy."""
    raw = openai.AsyncOpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else "not-needed",
        max_retries=0,
        timeout=settings.request_timeout,
        http_client=_pooled_http_client(documents_in_flight(settings)),
    )
    return instructor.from_openai(raw, mode=MODES[settings.mode])


def _pooled_http_client(concurrency: int) -> PooledHttpClient:
    """The SDK's default client, whose pool answers its idle-connection probe without a syscall and an attribute dict.

    openai's pool allows 1000 connections but keeps only 100 idle: above that concurrency, answered requests would
    close their connections and the next ones open new, so the idle limit follows the concurrency. Its proxies
    from the environment are kept (a client given a transport would lose them)."""
    limits = httpx2.Limits(
        max_connections=max(concurrency, 1000), max_keepalive_connections=max(concurrency, SDK_KEEPALIVE)
    )
    client = PooledHttpClient(limits=limits, verify=shared_ssl_context())
    pool = getattr(client._transport, "_pool", None)
    if isinstance(pool, httpcore2.AsyncConnectionPool) and isinstance(pool._network_backend, AutoBackend):
        pool._network_backend = _ProbedSocketBackend()
    return client


def shared_ssl_context() -> ssl.SSLContext:
    """httpx2's default TLS context (verify=True: the system's CAs, or SSL_CERT_FILE / SSL_CERT_DIR), made once per
    process and setting instead of once per client: loading the CAs took about 30 ms of CPU a client, and a run
    on the embedded server makes two (one before the server starts)."""
    return _ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _ssl_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx2.create_ssl_context()  # it reads the two variables itself; they are the cache's key


class PooledHttpClient(openai.DefaultAsyncHttpxClient):
    """The SDK's default httpx client, plus `post_bytes`: one POST of ready-made bytes over an aiohttp pool.

    structured.send posts every chat completion the same way (the SDK's URL, headers and timeout, taken from it
    once); through httpx and httpcore that cost about 1 ms of CPU a request, most of it the pool's pass over every
    connection (is each idle one readable? expired?) each time a request comes or goes, at 64 connections.
    aiohttp keeps idle connections in a per-host list and parses answers in C (about 0.3 ms). The request keeps
    the exact bytes httpx would send (header names, order and values; the caller passes them), redirects are not
    followed (the caller sends a 3xx again through httpx) and bodies are not decoded (httpx decodes them); errors
    are raised as the httpx exceptions httpx would raise for them, so the SDK's mapping applies unchanged."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        limits = kwargs.get("limits")
        self._lean_limit = limits.max_connections if limits is not None and limits.max_connections else 0
        self._lean_keepalive_s = limits.keepalive_expiry if limits is not None else None
        self._lean: aiohttp.ClientSession | None = None

    def lean_origin(self, url: httpx2.URL) -> bool:
        """Whether post_bytes may carry a request to `url` as httpx would: plain http(s) with no credentials in
        the URL (httpx turns them into Basic auth), no proxy mounted for it, no cookies to send (httpx adds them),
        and a host without underscores (httpx then sets the TLS server name itself)."""
        return (
            url.scheme in ("http", "https")
            and not url.userinfo
            and "_" not in url.host
            and self._transport_for_url(url) is self._transport
            and not self.cookies
            and self.auth is None
            and not self.event_hooks["request"]
            and not self.event_hooks["response"]
        )

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._lean is None or self._lean.closed or self._lean._loop is not loop:
            pool = getattr(self._transport, "_pool", None)
            ssl_context = getattr(pool, "_ssl_context", None)
            connector = aiohttp.TCPConnector(
                limit=self._lean_limit,
                limit_per_host=0,
                keepalive_timeout=self._lean_keepalive_s if self._lean_keepalive_s is not None else 15.0,
                ssl=ssl_context if ssl_context is not None else True,
            )
            self._lean = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"), timeout=NO_TIMEOUT,
            )  # fmt: skip
        return self._lean

    async def post_bytes(
        self, url: str, headers: Sequence[tuple[str, str]], content: bytes, timeout: httpx2.Timeout
    ) -> LeanAnswer:
        """One POST's answer, its body as sent; httpx's exceptions (ConnectError, ReadTimeout, ...) on failure."""
        session = self._session()
        try:
            async with session.post(
                _yarl_url(url),
                data=content,
                headers=headers,
                timeout=_aiohttp_timeout(timeout.connect, timeout.read),
                allow_redirects=False,
            ) as response:
                body = await response.read()
                return LeanAnswer(response.status, response.headers, response.raw_headers, body)
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx2.ConnectTimeout(str(exc)) from exc
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is one
            raise httpx2.ReadTimeout(str(exc) or "timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx2.ConnectError(str(exc)) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
            raise httpx2.RemoteProtocolError(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise httpx2.ReadError(str(exc)) from exc

    async def aclose(self) -> None:
        lean, self._lean = self._lean, None
        try:
            if lean is not None and not lean.closed:
                await lean.close()
        finally:
            await super().aclose()


NO_TIMEOUT = aiohttp.ClientTimeout(total=None)


@functools.lru_cache(maxsize=64)
def _yarl_url(url: str) -> URL:
    return URL(url, encoded=True)  # as httpx sends it: no requoting


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """httpx's connect and read limits (aiohttp has no write limit; no pool wait: the pool exceeds the concurrency)."""
    return aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect, sock_read=read)


@dataclass(frozen=True)
class LeanAnswer:
    """What PooledHttpClient.post_bytes received: status, headers (case-insensitive, and raw), undecoded body."""

    status: int
    headers: Mapping[str, str]
    raw_headers: Sequence[tuple[bytes, bytes]]
    body: bytes


class _ProbedSocketStream(AnyIOStream):
    """httpcore's anyio stream, keeping its socket: the pool asks every idle connection "is_readable" each time a
    request comes or goes, and anyio answered by building a dict of socket attributes, with a getpeername call,
    to pick the socket out of it (about 20% of the client's CPU at 64 connections, bench/throughput.py)."""

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        super().__init__(stream)
        self._socket = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return is_socket_readable(self._socket)
        return super().get_extra_info(info)


class _ProbedSocketBackend(AnyIOBackend):
    """httpcore's anyio backend (what its AutoBackend picks under asyncio), making _ProbedSocketStreams."""

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        return _probed(await super().connect_tcp(*args, **kwargs))

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore2.AsyncNetworkStream:
        return _probed(await super().connect_unix_socket(*args, **kwargs))


def _probed(stream: httpcore2.AsyncNetworkStream) -> httpcore2.AsyncNetworkStream:
    return _ProbedSocketStream(stream._stream) if type(stream) is AnyIOStream else stream


def make_sync_client(endpoint: Endpoint, settings: Settings) -> openai.OpenAI:
    """A plain client for the Batch API's few calls (upload, create, poll, download), with the SDK's retries on."""
    return openai.OpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else "not-needed",
        max_retries=settings.max_retries,
        timeout=settings.request_timeout,
    )
