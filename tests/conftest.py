"""Shared fixtures. Model HTTP calls replay from tests/cassettes/ (vcrpy); `make record` re-records them
against the real embedded model (`pytest --record`), which needs the `local` extra installed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import vcr
from hypothesis import settings as hypothesis_settings

from llm_extract.core.config import Settings, load_settings

# No wall-clock deadline on property tests: a loaded machine (CI's 2 cores, a model running beside) made one
# example exceed hypothesis's default 200 ms, and speed is measured in bench/, never in tests.
hypothesis_settings.register_profile("llm-extract", deadline=None)
hypothesis_settings.load_profile("llm-extract")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "evals" / "seeds" / "docs").glob("*.txt"))
EDGE = sorted((ROOT / "tests" / "data" / "edge").glob("*.txt"))
MUC4_DOCS = sorted((ROOT / "tests" / "data" / "muc4").glob("*.txt"))
CASSETTE = ROOT / "tests" / "cassettes" / "local_model.yaml"
SECRET_HEADERS = [
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
    "set-cookie",
]
REPLAY_BASE_URL = "http://127.0.0.1:9/v1"  # never contacted: every request replays from the cassette


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record", action="store_true", help="re-record cassettes against the embedded local model")
    parser.addoption("--update-baseline", action="store_true", help="rewrite evals/seeds/baseline.json from cassettes")


def scrub_response(response: dict) -> dict:
    for header in list(response.get("headers", {})):
        if header.lower() in SECRET_HEADERS:
            del response["headers"][header]
    return response


def cassette_vcr(record_mode: str) -> vcr.VCR:
    return vcr.VCR(
        record_mode=record_mode,
        match_on=["method", "path", "body"],  # not the port: the local server gets a free one each run
        filter_headers=SECRET_HEADERS,
        before_record_response=scrub_response,
        decode_compressed_response=True,
    )


@pytest.fixture(scope="session")
def model_base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Replay: a URL nothing listens on. Record: a real embedded llama.cpp server."""
    if not request.config.getoption("--record"):
        yield REPLAY_BASE_URL
        return
    from llm_extract.providers.provider import open_endpoint

    with open_endpoint(load_settings(base_url=None)) as endpoint:
        yield endpoint.base_url


@pytest.fixture
def cassette(request: pytest.FixtureRequest, model_base_url: str) -> Iterator[object]:
    """One cassette file shared by every test that talks to the model, opened per test so that vcrpy's
    patching ends with the test (recording appends new requests; replay finds them all)."""
    recording = request.config.getoption("--record")
    with cassette_vcr("new_episodes" if recording else "none").use_cassette(
        str(CASSETTE), allow_playback_repeats=True
    ) as recorded:
        yield recorded


@pytest.fixture
def replay_settings(model_base_url: str, cassette: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that reach the (recorded) embedded model exactly as a default run would. No preflight: nothing
    listens at the replay URL (the environment variable covers runs through the CLI too)."""
    os.environ.pop("LLM_EXTRACT_CONFIG", None)
    monkeypatch.setenv("LLM_EXTRACT_PREFLIGHT", "false")
    return load_settings(base_url=model_base_url, model="local", cache_dir=tmp_path / "cache", preflight=False)
