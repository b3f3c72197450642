"""No secret may reach a cassette, a manifest or an output line."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.api import evaluate_suite, extract_batch, review_run
from llm_extract.cli import app
from llm_extract.core.config import ConfigWarning, load_settings
from llm_extract.core.redact import scrub_text, scrub_url
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


# --- Secrets in server error bodies and in URLs: scrubbed before anything is stored, printed or rendered ---

KEY = "sk-live-echoedkey0123456789abcdef"  # the API key, echoed back by a hostile or careless server
URL_PASSWORD = "urlpass-9f8e7d6c5b4a"  # credentials inside --base-url
QUERY_KEY = "querykey-1a2b3c4d5e6f"  # ?api-key= inside --base-url
ALL_SECRETS = (KEY, URL_PASSWORD, QUERY_KEY)


def test_scrub_text_masks_every_known_form() -> None:
    text = (
        f"Error code: 500 - {{'message': 'Authorization: Bearer {KEY}', 'headers': {{'authorization': 'Bearer x1y2z3',"
        f" 'x-api-key': 'abcd1234', 'api-key': 'efgh5678'}}}} at https://bob:{URL_PASSWORD}@h.example/v1"
        f"?api-key={QUERY_KEY}&api_key=k2&key=k3&token=t4&model=m sk-proj-abcdefgh12345678"
    )
    scrubbed = scrub_text(text, secrets=["short-but-known-secret"])
    for leaked in (KEY, URL_PASSWORD, QUERY_KEY, "x1y2z3", "abcd1234", "efgh5678", "k2", "k3", "t4", "abcdefgh12345"):
        assert leaked not in scrubbed, leaked
    assert "model=m" in scrubbed and "h.example/v1" in scrubbed and "Error code: 500" in scrubbed
    assert scrub_text("known VALUE-1234 here", secrets=["VALUE-1234"]) == "known *** here"
    assert scrub_text("The key to the monkey=1 base.") == "The key to the monkey=1 base."
    assert scrub_url(f"http://u:{URL_PASSWORD}@127.0.0.1:8/v1?api-key={QUERY_KEY}") == (
        "http://***@127.0.0.1:8/v1?api-key=***"
    )
    assert scrub_url(None) is None


def _leaks(text: str) -> list[str]:
    return [secret for secret in ALL_SECRETS if secret in text] + scan_values(text)


def scan_values(text: str) -> list[str]:
    """Bearer tokens and sk- keys other than the masked forms."""
    found = re.findall(r"Bearer\s+(?!\*\*\*)\S+|sk-(?!\*\*\*)[A-Za-z0-9_\-]{16,}", text)
    return [item for item in found if "***" not in item]


def _echoing_fake(**options: object) -> FakeOpenAI:
    """Document 1 errors on 500s that echo the Authorization header; document 2's answer (invalid) echoes it."""
    echoed_answer = json.dumps({"incidents": [{"role": f"Authorization: Bearer {KEY}"}]})
    script = ["echo_auth", "echo_auth", "invalid", "ok"]
    return FakeOpenAI(script=script, invalid_answer=echoed_answer, **options)  # type: ignore[arg-type]


def _docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for index in range(3):
        (folder / f"doc{index}.txt").write_text(f"Article {index}: a drone struck a base on Wednesday.")
    return folder


def _with_credentials(base_url: str) -> str:
    return base_url.replace("http://", f"http://bob:{URL_PASSWORD}@")


def test_no_output_file_holds_an_echoed_key_or_url_credentials(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    with _echoing_fake() as fake:
        settings = load_settings(
            base_url=_with_credentials(fake.base_url), model="fake", api_key=KEY, max_retries=1, max_reasks=0,
            backoff_initial=0.001, backoff_max=0.01, cache_dir=tmp_path / "cache",
        )  # fmt: skip
        summary = extract_batch([_docs(tmp_path)], output, settings)
    assert fake.served["echo_auth"] == 2 and fake.served["invalid"] == 1  # the secrets did come back
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["status"] for r in records) == ["error", "invalid", "ok"]
    assert all("***" in (r.get("error") or "") for r in records if r["status"] == "error")
    manifest = json.loads(summary.manifest_path.read_text())
    assert manifest["endpoint"]["base_url"].startswith("http://***@127.0.0.1")
    assert manifest["settings"]["base_url"].startswith("http://***@127.0.0.1")
    evaluated = evaluate_suite("seeds", run=output, out_dir=tmp_path / "eval")
    page = tmp_path / "review.html"
    review_run(output, page, documents=[tmp_path / "docs"])
    for path in (output, summary.manifest_path, evaluated.report_json, evaluated.report_md, page):
        assert _leaks(path.read_text()) == [], path


def test_a_key_in_the_url_query_never_reaches_an_output(tmp_path: Path) -> None:
    """openai appends paths after the query, so the server's 404 echoes the URL: a fatal error line."""
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        settings = load_settings(base_url=f"{fake.base_url}?api-key={QUERY_KEY}", model="fake", api_key=KEY,
                                 max_retries=0, cache_dir=tmp_path / "cache")  # fmt: skip
        summary = extract_batch([_docs(tmp_path)], output, settings)
    manifest_text = summary.manifest_path.read_text()
    assert "api-key=***" in manifest_text
    assert json.loads(manifest_text)["counts"]["statuses"]["error"] >= 1
    for path in (output, summary.manifest_path):
        assert _leaks(path.read_text()) == [], path


def test_a_401_echoing_the_key_is_scrubbed_in_the_record_and_the_abort_message(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    with FakeOpenAI(script=["echo_auth"], echo_status=401) as fake:
        settings = load_settings(base_url=fake.base_url, model="fake", api_key=KEY, cache_dir=tmp_path / "cache")
        summary = extract_batch([_docs(tmp_path)], output, settings)
    assert fake.served["echo_auth"] == 1
    assert "AuthenticationError" in output.read_text()
    for path in (output, summary.manifest_path):
        assert _leaks(path.read_text()) == [], path
    assert _leaks(json.dumps(summary.stats.as_dict())) == []


def test_the_terminal_never_shows_the_key(tmp_path: Path) -> None:
    with _echoing_fake() as fake:
        result = CliRunner().invoke(
            app,
            ["extract", str(_docs(tmp_path)), "-o", str(tmp_path / "out.jsonl"), "--base-url",
             _with_credentials(fake.base_url), "--model", "fake", "--api-key", KEY],
            env={"LLM_EXTRACT_CACHE_DIR": str(tmp_path / "cache"), "LLM_EXTRACT_MAX_RETRIES": "1",
                 "LLM_EXTRACT_MAX_REASKS": "0", "LLM_EXTRACT_BACKOFF_MAX": "0.01", "COLUMNS": "400"},
        )  # fmt: skip
    assert fake.served["echo_auth"] == 2
    assert "Extraction summary" in result.output, result.output
    assert "***" in result.output, "the error lines are shown, masked"
    assert _leaks(result.output) == [], result.output


def test_a_config_file_with_a_key_readable_by_others_gets_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "llm-extract.toml"
    config.write_text(f'api_key = "{KEY}"\nmodel = "m"\n')
    config.chmod(0o644)
    with pytest.warns(ConfigWarning, match="readable by group or others.*chmod 600") as caught:
        load_settings(config_file=config)
    assert KEY not in str(caught[0].message)
    config.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigWarning)
        load_settings(config_file=config)
        keyless = tmp_path / "keyless.toml"
        keyless.write_text('model = "m"\n')
        keyless.chmod(0o644)
        load_settings(config_file=keyless)


def test_credential_names_beyond_api_key_are_scrubbed() -> None:
    url = "http://h/v1?subscription-key=AZSECRET42&auth_token=TOKSECRET43&X-Amz-Signature=SIGSECRET&apiKey=CAMEL9"
    scrubbed = scrub_text(f"{url} x-goog-api-key: GOOGSECRET Ocp-Apim-Subscription-Key: APIMSECRET")
    for leaked in ("AZSECRET42", "TOKSECRET43", "SIGSECRET", "CAMEL9", "GOOGSECRET", "APIMSECRET"):
        assert leaked not in scrubbed, leaked
    assert scrub_text("keywords: drone; the monkey=1 base") == "keywords: drone; the monkey=1 base"


def test_encoded_azure_cookie_and_escaped_forms_are_scrubbed() -> None:
    text = ("http://h/v1?code=AZFUNC1&api%2Dkey=ENC2 Error code: 500 - {\\'x-api-key\\': \\'ESC3\\'} "
            "Endpoint=sb://x/;SharedAccessKey=SAS4 Cookie: session=COOKIE5")  # fmt: skip
    scrubbed = scrub_text(text)
    for leaked in ("AZFUNC1", "ENC2", "ESC3", "SAS4", "COOKIE5"):
        assert leaked not in scrubbed, leaked
    assert "Error code: 500" in scrubbed


def test_values_salvage_removes_are_stored_without_an_echoed_key(tmp_path: Path) -> None:
    """Salvage keeps what it removed on the line: a key the server echoed into the answer is masked there too."""
    from tests.test_salvage import _template

    echoed = _template(Target=["the farm"], Victim=[f"Authorization: Bearer {KEY}"])
    answer = json.dumps({"templates": [echoed, _template(Target=["the farm"], Weapon=["rifles"])]})
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "farm.txt").write_text("Gunmen with rifles attacked the farm on Wednesday.")
    output = tmp_path / "out.jsonl"
    with FakeOpenAI(answer=answer, invalid_answer=answer, script=["invalid"] * 3) as fake:
        settings = load_settings(base_url=fake.base_url, model="fake", api_key=KEY, schema_name="muc4_v1",
                                 prompt_name="muc4_v3", cache_dir=tmp_path / "cache")  # fmt: skip
        extract_batch([folder], output, settings)
    line = json.loads(output.read_text())
    assert line["status"] == "ok" and line["salvaged"]["removed"], line
    assert _leaks(output.read_text()) == []
