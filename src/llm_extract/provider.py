"""Endpoints and clients: any OpenAI-compatible server by configuration, or the embedded local model."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import instructor
import openai
from pydantic import SecretStr

from llm_extract.config import Settings
from llm_extract.errors import ConfigError

EndpointKind = Literal["embedded", "openai", "openai-compatible"]

MODES: dict[str, instructor.Mode] = {
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "md_json": instructor.Mode.MD_JSON,
}


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. `details` lands in the run manifest (never the key)."""

    kind: EndpointKind
    base_url: str
    model: str
    api_key: SecretStr | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "base_url": self.base_url, "model": self.model, **self.details}


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
        yield remote_endpoint(settings)
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
        parallel=settings.concurrency,
        threads=settings.local_threads,
        log_path=log_path,
    ) as server:
        yield Endpoint(
            kind="embedded",
            base_url=server.base_url,
            model=MODEL_ALIAS,
            details={"weights": model_name, "weights_sha256": model_sha, "server_log": str(log_path)},
        )


def endpoint_identity(settings: Settings) -> str:
    """What answers requests, known before any server starts (response-cache keys depend on it)."""
    if settings.uses_embedded_model:
        from llm_extract.local_model import MODEL_SHA256

        return f"embedded:{settings.model_path or MODEL_SHA256}"
    return f"{settings.base_url}|{settings.model}"


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
    )
    return instructor.from_openai(raw, mode=MODES[settings.mode])


def make_sync_client(endpoint: Endpoint, settings: Settings) -> openai.OpenAI:
    """A plain client for the Batch API's few calls (upload, create, poll, download), with the SDK's retries on."""
    return openai.OpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else "not-needed",
        max_retries=settings.max_retries,
        timeout=settings.request_timeout,
    )
