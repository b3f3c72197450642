"""No secret may reach a cassette, a manifest or an output line."""

from __future__ import annotations

import json
import re
from pathlib import Path

from llm_extract.api import extract_batch
from llm_extract.config import load_settings
from llm_extract.testing.fake_openai import FakeOpenAI

from .conftest import ROOT, SECRET_HEADERS, cassette_vcr

SECRET_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"Bearer\s+\S+", re.IGNORECASE),
    *(re.compile(rf"^\s*['\"]?{re.escape(h)}['\"]?\s*:", re.IGNORECASE | re.MULTILINE) for h in SECRET_HEADERS),
]


def scan(text: str) -> list[str]:
    return [match.group(0) for pattern in SECRET_PATTERNS for match in pattern.finditer(text)]


def test_committed_cassettes_hold_no_secrets() -> None:
    cassettes = list((ROOT / "tests" / "cassettes").rglob("*.yaml"))
    assert cassettes, "no cassettes found"
    for cassette in cassettes:
        assert scan(cassette.read_text()) == [], cassette


def test_recording_filters_auth_headers(tmp_path: Path) -> None:
    """Record a real request with a key through the same VCR settings the suite uses."""
    import openai

    secret = "sk-live-abcdefghijklmnopqrstuvwx"
    path = tmp_path / "c.yaml"
    with FakeOpenAI() as fake, cassette_vcr("all").use_cassette(str(path)):
        client = openai.OpenAI(base_url=fake.base_url, api_key=secret, max_retries=0)
        client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}])
    text = path.read_text()
    assert "chat/completions" in text
    assert secret not in text and scan(text) == []


def test_manifest_and_records_never_hold_the_key(tmp_path: Path) -> None:
    secret = "sk-live-zyxwvutsrqponmlkjihgfedcba"
    (tmp_path / "a.txt").write_text("A drone struck a base.")
    with FakeOpenAI() as fake:
        summary = extract_batch([tmp_path / "a.txt"], tmp_path / "out.jsonl",
                                load_settings(base_url=fake.base_url, model="fake", api_key=secret))  # fmt: skip
    for path in (summary.output, summary.manifest_path):
        assert secret not in path.read_text()
    assert json.loads(summary.manifest_path.read_text())["settings"]["api_key"] == "***"
