"""Replays of the real embedded model (Qwen2.5-Coder-1.5B Q4_K_M on llama.cpp) over the seed articles
and edge documents. A prompt or schema change alters the request body, finds no recording, and fails
here loudly: re-record with `make record`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.api import extract_one, make_extractor
from llm_extract.cli import app
from llm_extract.config import Settings
from llm_extract.documents import iter_inputs
from llm_extract.provider import remote_endpoint
from llm_extract.requests import build_request

from .conftest import EDGE, SEEDS

pytestmark = pytest.mark.cassette


@pytest.mark.parametrize("path", SEEDS + EDGE, ids=lambda p: p.stem)
def test_recorded_model_answer_is_a_valid_record(path: Path, replay_settings: Settings) -> None:
    extractor = make_extractor(remote_endpoint(replay_settings), replay_settings)
    (document,) = iter_inputs([path])
    result = asyncio.run(extract_one(extractor, build_request(document, extractor.prompt, extractor.schema, "local")))
    assert result.status == "ok", result.error
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    extractor.schema.response_model.model_validate(result.data)
    assert result.attempts == result.reasks + 1


def test_cli_batch_over_seeds_replays_and_resumes(replay_settings: Settings, tmp_path: Path) -> None:
    output = tmp_path / "seeds.jsonl"
    args = [
        "extract",
        str(SEEDS[0].parent),
        "-o",
        str(output),
        "--base-url",
        replay_settings.base_url,
        "--model",
        "local",
    ]
    result = CliRunner().invoke(app, args, env={"LLM_EXTRACT_CACHE_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["doc_id"] for r in records) == sorted(p.stem for p in SEEDS)
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]
    assert "Extraction summary" in result.output
    manifest = json.loads(output.with_name("seeds.manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["prompt"]["name"] == "incident_v1" and len(manifest["prompt"]["sha256"]) == 64
    assert manifest["schema"]["name"] == "incident_v1" and len(manifest["schema"]["sha256"]) == 64
    assert manifest["counts"]["processed"] == len(SEEDS)

    rerun = CliRunner().invoke(app, args, env={"LLM_EXTRACT_CACHE_DIR": str(tmp_path)})
    assert rerun.exit_code == 0, rerun.output
    assert "resuming" in rerun.output
    assert len(output.read_text().splitlines()) == len(SEEDS)
