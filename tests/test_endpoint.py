"""A wrong endpoint fails the run in seconds with the URL and a hint, not after every document's retries."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.api import extract_batch
from llm_extract.cli import app
from llm_extract.core.config import load_settings
from llm_extract.core.errors import LLMExtractError
from llm_extract.providers.provider import preflight, remote_endpoint
from llm_extract.testing.fake_openai import FakeOpenAI

SECRET = "sk-live-preflightsecret0123456789"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def one_doc(tmp_path: Path) -> Path:
    path = tmp_path / "a.txt"
    path.write_text("A drone struck a base on Wednesday.")
    return path


def quick(base_url: str, tmp_path: Path, **overrides: object):
    """Settings that would take long per document without a preflight (so the old behaviour shows as slow)."""
    options: dict[str, object] = {"max_retries": 2, "backoff_initial": 0.01, "backoff_max": 0.02, **overrides}
    return load_settings(base_url=base_url, model="fake", cache_dir=tmp_path / "cache", **options)


def test_nothing_listening_fails_fast_with_the_url_scrubbed_and_a_hint(tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://user:{SECRET}@127.0.0.1:{port}/v1"
    started = time.monotonic()
    with pytest.raises(LLMExtractError) as raised:
        extract_batch([one_doc(tmp_path)], tmp_path / "out.jsonl", quick(base_url, tmp_path))
    message = str(raised.value)
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}/v1/models" in message
    assert "is the server running?" in message and "/v1" in message
    assert SECRET not in message
    assert not (tmp_path / "out.jsonl").exists(), "nothing written for a run that never started"


def test_no_answer_within_the_preflight_timeout(tmp_path: Path) -> None:
    with silent_listener() as port:
        endpoint = remote_endpoint(quick(f"http://127.0.0.1:{port}/v1", tmp_path))
        started = time.monotonic()
        with pytest.raises(LLMExtractError, match=r"no answer from .* within 0\.5 s: is the server running"):
            preflight(endpoint, timeout_s=0.5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_fails_with_an_auth_hint(tmp_path: Path, status: int) -> None:
    refused = pytest.raises(LLMExtractError, match=rf"refused the API key \(HTTP {status}\).*--api-key")
    with FakeOpenAI(models_status=status) as fake, refused:
        extract_batch([one_doc(tmp_path)], tmp_path / "out.jsonl", quick(fake.base_url, tmp_path, api_key=SECRET))
    assert fake.requests == [], "no document sent"


@pytest.mark.parametrize("status", [404, 500])
def test_a_server_without_models_still_runs(tmp_path: Path, status: int) -> None:
    with FakeOpenAI(models_status=status) as fake:
        summary = extract_batch([one_doc(tmp_path)], tmp_path / "out.jsonl", quick(fake.base_url, tmp_path))
    assert summary.stats.as_dict()["statuses"]["ok"] == 1
    assert fake.calls["GET /v1/models"] == 1


def test_preflight_runs_once_and_can_be_turned_off(tmp_path: Path) -> None:
    with FakeOpenAI() as fake:
        extract_batch([one_doc(tmp_path)], tmp_path / "a.jsonl", quick(fake.base_url, tmp_path))
        assert fake.calls["GET /v1/models"] == 1
        extract_batch([one_doc(tmp_path)], tmp_path / "b.jsonl", quick(fake.base_url, tmp_path, preflight=False))
        assert fake.calls["GET /v1/models"] == 1


def test_cli_exits_2_in_seconds_with_the_url_and_hint(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    result = CliRunner().invoke(
        app,
        ["extract", str(one_doc(tmp_path)), "-o", str(tmp_path / "out.jsonl"), "--base-url",
         f"http://127.0.0.1:{port}/v1?api-key={SECRET}", "--model", "fake"],
        env={"LLM_EXTRACT_CACHE_DIR": str(tmp_path / "cache"), "LLM_EXTRACT_BACKOFF_MAX": "0.02"},
    )  # fmt: skip
    output = " ".join(result.output.split())  # rich wraps long lines
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 10
    assert f"127.0.0.1:{port}" in output and "did you leave off /v1?" in output
    assert SECRET not in result.output
