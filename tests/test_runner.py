"""The batch runner and the stored run: every document accounted for once, resumable, crash-tolerant."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.core.errors import ConfigError
from llm_extract.extraction.requests import PromptLimit, prompt_limit
from llm_extract.runs.store import RunStore, manifest_path_for, read_lines
from llm_extract.testing.fake_openai import FAULTS, FakeOpenAI, fault_mix


def write_docs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (folder / f"doc{index:03d}.txt").write_text(f"Article {index}: a drone struck a base on Wednesday.")


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def settings_for(fake: FakeOpenAI, **overrides: object):
    return load_settings(base_url=fake.base_url, model="fake", backoff_initial=0.001, backoff_max=0.01, **overrides)


def test_faulty_server_every_document_accounted_for_exactly_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 40)
    (docs / "empty.txt").write_text("")
    mix = {"ok": 0.6, "rate_limit": 0.1, "server_error": 0.1, "drop": 0.05, "invalid": 0.1, "garbage": 0.05}
    output = tmp_path / "out.jsonl"
    with FakeOpenAI(mix=mix, seed=7) as fake:
        summary = extract_batch([docs], output, settings_for(fake, concurrency=8, max_retries=8, max_reasks=1))
    records = lines(output)
    ids = [record["doc_id"] for record in records]
    assert sorted(ids) == sorted([f"doc{i:03d}" for i in range(40)] + ["empty"])
    assert len(ids) == len(set(ids))
    by_id = {record["doc_id"]: record for record in records}
    assert by_id["empty"]["status"] == "error" and by_id["empty"]["error"] == "empty document (no text)"
    statuses = summary.stats.as_dict()["statuses"]
    assert sum(statuses.values()) == 41
    assert summary.stats.transport_retries == sum(r["transport_retries"] for r in records) > 0
    for record in records:
        assert record["status"] in {"ok", "invalid", "error"}
        assert (record["status"] == "ok") == (record["error"] is None)
    manifest = json.loads(summary.manifest_path.read_text())
    assert manifest["status"] == "complete"
    assert manifest["counts"]["statuses"] == statuses
    assert manifest["counts"]["transport_retries"] == summary.stats.transport_retries


STATUSES = ("ok", "invalid", "error")


def requests_spent(record: dict) -> int:
    """HTTP requests one document cost: each answer, each retry, and the last try of a transport failure."""
    return record["attempts"] + record["transport_retries"] + (record["error_kind"] == "model")


@pytest.mark.parametrize("seed", [11, 12])
def test_thirty_percent_faults_every_document_accounted_and_totals_match(tmp_path: Path, seed: int) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 150)
    output = tmp_path / "out.jsonl"
    # The timeout is generous so that only the injected `slow` faults time out: a request the client gives up
    # on before the server has read it (a loaded machine) is never seen by the fake, and could not be counted.
    with FakeOpenAI(mix=fault_mix(0.3), seed=seed, slow_s=4.5) as fake:
        settings = settings_for(fake, concurrency=16, max_retries=3, max_reasks=1, request_timeout=3.0)
        summary = extract_batch([docs], output, settings)
    records = lines(output)
    assert sorted(r["doc_id"] for r in records) == [f"doc{i:03d}" for i in range(150)], "each once, none lost"
    assert set(fake.served) == set(FAULTS), f"every fault served at least once: {fake.served}"
    assert 0.2 < 1 - fake.served["ok"] / sum(fake.served.values()) < 0.4
    for record in records:
        if record["status"] == "ok":
            assert record["error"] is None and record["error_kind"] is None
        else:  # failed with its reason
            assert record["error_kind"] == {"invalid": "validation", "error": "model"}[record["status"]]
            assert record["error"]
    assert sum(requests_spent(record) for record in records) == len(fake.requests), "no request unaccounted"
    counts = json.loads(summary.manifest_path.read_text())["counts"]
    assert counts["statuses"] == {status: sum(r["status"] == status for r in records) for status in STATUSES}
    assert counts["documents"] == 150
    assert counts["transport_retries"] == sum(r["transport_retries"] for r in records) > 0
    assert counts["reasks"] == sum(r["reasks"] for r in records) > 0
    assert counts["attempts"] == sum(r["attempts"] for r in records)
    assert counts["backoff_s"] == pytest.approx(sum(r["backoff_s"] for r in records), abs=1e-6)
    assert counts["backoff_s"] > 0


def test_rerun_skips_done_documents_and_redoes_failed_ones(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 5)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI(script=["ok", "ok", "server_error", "ok", "ok"]) as fake:
        first = extract_batch([docs], output, settings_for(fake, max_retries=0))
    assert first.stats.as_dict()["statuses"] == {"ok": 4, "invalid": 0, "error": 1}
    with FakeOpenAI() as fake:
        second = extract_batch([docs], output, settings_for(fake))
        assert len(fake.requests) == 1, "only the failed document is sent again"
    assert second.stats.resumed == 4 and second.stats.dropped_lines == 1
    records = lines(output)
    assert len(records) == 5 and {r["status"] for r in records} == {"ok"}


def test_prompt_or_text_change_redoes_the_document_without_duplicating_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
    (docs / "doc001.txt").write_text("Edited text: rockets hit a base.")
    with FakeOpenAI() as fake:
        summary = extract_batch([docs], output, settings_for(fake))
        assert len(fake.requests) == 1
    assert summary.stats.resumed == 2
    assert sorted(r["doc_id"] for r in lines(output)) == ["doc000", "doc001", "doc002"]


def test_torn_last_line_is_dropped_and_redone(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
    data = output.read_bytes()
    output.write_bytes(data[: len(data) - 25])  # as if killed mid-write
    records, bad = read_lines(output)
    assert len(records) == 2 and bad == 1
    with FakeOpenAI() as fake:
        summary = extract_batch([docs], output, settings_for(fake))
        assert len(fake.requests) == 1
    assert summary.stats.dropped_lines == 1
    assert len(lines(output)) == 3  # every line parses: nothing torn is left behind


def test_limit_processes_only_the_first_inputs(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 6)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        summary = extract_batch([docs], output, settings_for(fake), limit=2)
    assert [r["doc_id"] for r in lines(output)] == ["doc000", "doc001"]
    assert summary.stats.planned == 2


def test_fatal_endpoint_error_stops_the_batch(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 10)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        settings = load_settings(base_url=fake.base_url + "/wrong", model="fake")
        summary = extract_batch([docs], output, settings)
    assert summary.stats.aborted and "NotFoundError" in summary.stats.aborted
    assert json.loads(summary.manifest_path.read_text())["status"] == "aborted"
    assert len(lines(output)) == 1, "the rest are left for a rerun, not recorded as failures"


def test_a_second_run_on_the_same_output_is_refused(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "out.jsonl")
    with store.open_lines(lambda line: True):
        from llm_extract.core.errors import LLMExtractError

        with (
            pytest.raises(LLMExtractError, match="another llm-extract run"),
            RunStore(store.path).open_lines(lambda line: True),
        ):
            pass


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended (rc {process.returncode}) before {count} lines were written")
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} lines after {timeout_s} s")


@pytest.mark.parametrize(
    ("kill_after", "seed", "torn"), [(3, 1, False), (25, 2, True), (50, 3, False)], ids=["early", "mid-torn", "late"]
)
def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, kill_after: int, seed: int, torn: bool
) -> None:
    """The real CLI in a subprocess, killed with SIGKILL while documents are in flight, then rerun."""
    docs = tmp_path / "docs"
    write_docs(docs, 60)
    output = tmp_path / "out.jsonl"
    cli = Path(sys.executable).with_name("llm-extract")
    command = [str(cli), "extract", str(docs), "-o", str(output), "-j", "4", "--model", "fake", "--max-retries", "8"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLM_EXTRACT_", "OPENAI_"))}
    env.update(LLM_EXTRACT_BACKOFF_INITIAL="0.001", LLM_EXTRACT_BACKOFF_MAX="0.01", LLM_EXTRACT_CACHE_DIR=str(tmp_path))
    mix = {"ok": 0.8, "rate_limit": 0.1, "server_error": 0.1}  # transient faults keep retries in flight too
    with FakeOpenAI(mix=mix, seed=seed, latency_s=0.1) as fake:
        command += ["--base-url", fake.base_url]
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for_lines(output, kill_after, process)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        if torn:
            with output.open("ab") as handle:
                handle.write(b'{"doc_id": "doc0')  # as if the kill had landed inside a write
        killed_lines = output.read_bytes().count(b"\n")
        assert kill_after <= killed_lines < 60, "the kill must land mid-run"
        assert json.loads(manifest_path_for(output).read_text())["status"] == "running"
        survivors, _ = read_lines(output)
        done_before = {line.doc_id for line in survivors if line.ok}
        rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=300, check=False)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    raw = output.read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.splitlines()]  # every line parses: nothing torn is left
    ids = [record["doc_id"] for record in records]
    assert sorted(ids) == [f"doc{i:03d}" for i in range(60)], "one line per document, none lost, none twice"
    assert all(record["status"] == "ok" for record in records), [r["error"] for r in records if r["error"]]
    manifest = json.loads(manifest_path_for(output).read_text())
    assert manifest["status"] == "complete"
    assert manifest["invocation"]["resumed"] == len(done_before)
    assert manifest["invocation"]["processed"] == 60 - len(done_before)
    # The totals cover the whole output, not only the last invocation.
    assert manifest["counts"]["documents"] == 60 and manifest["counts"]["statuses"]["ok"] == 60


def test_article_longer_than_the_context_is_sent_in_chunks_under_the_limit(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    (docs / "long.txt").write_text("Shelling hit the town again. " * 800)  # ~23,000 characters
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        summary = extract_batch([docs], output, settings_for(fake, context_tokens=2048, max_tokens=512))
        sent = len(fake.requests)
    by_id = {record["doc_id"]: record for record in lines(output)}
    assert by_id["doc000"]["status"] == by_id["doc001"]["status"] == "ok"
    long = by_id["long"]
    assert long["status"] == "ok" and len(long["chunks"]) > 1
    assert sent == 2 + len(long["chunks"]), "the long article is sent in chunks, never whole"
    manifest = json.loads(summary.manifest_path.read_text())
    assert manifest["settings"]["context_tokens"] == 2048
    assert manifest["prompt_token_limit"] == {"tokens": 1536, "basis": "context_tokens 2048 - max_tokens 512"}


def test_prompt_limit_defaults_to_local_ctx_for_the_embedded_model_only() -> None:
    embedded = prompt_limit(load_settings(base_url=None, local_ctx=8192, max_tokens=2048))
    assert embedded == PromptLimit(6144, "local_ctx 8192 - max_tokens 2048")
    assert prompt_limit(load_settings(base_url="http://127.0.0.1:9/v1", model="m")) is None
    with pytest.raises(ConfigError, match="no room for a prompt"):
        prompt_limit(load_settings(base_url=None, local_ctx=1024, max_tokens=2048))
