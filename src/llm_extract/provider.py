"""Endpoints and clients: any OpenAI-compatible server by configuration, or the embedded local model."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

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

from llm_extract.config import Settings
from llm_extract.errors import ConfigError, LLMExtractError
from llm_extract.redact import scrub_text, scrub_url

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
    from llm_extract.local_model import MODEL_NAME, MODEL_SHA256, ensure_model
    from llm_extract.local_server import MODEL_ALIAS, LocalServer

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
        parallel=settings.in_flight,
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
        from llm_extract.local_server import MODEL_ALIAS

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
        http_client=_pooled_http_client(settings.in_flight),
    )
    return instructor.from_openai(raw, mode=MODES[settings.mode])


def _pooled_http_client(concurrency: int) -> openai.DefaultAsyncHttpxClient:
    """The SDK's default client, whose pool answers its idle-connection probe without a syscall and an attribute dict.

    openai's pool allows 1000 connections but keeps only 100 idle: above that concurrency, answered requests would
    close their connections and the next ones open new, so the idle limit follows the concurrency. Its proxies
    from the environment are kept (a client given a transport would lose them)."""
    limits = httpx2.Limits(
        max_connections=max(concurrency, 1000), max_keepalive_connections=max(concurrency, SDK_KEEPALIVE)
    )
    client = openai.DefaultAsyncHttpxClient(limits=limits)
    pool = getattr(client._transport, "_pool", None)
    if isinstance(pool, httpcore2.AsyncConnectionPool) and isinstance(pool._network_backend, AutoBackend):
        pool._network_backend = _ProbedSocketBackend()
    return client


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
