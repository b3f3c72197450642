"""The batch runner and the stored run: every document accounted for once, resumable, crash-tolerant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_extract.api import extract_batch
from llm_extract.config import load_settings
from llm_extract.store import RunStore, read_records
from llm_extract.testing.fake_openai import FakeOpenAI


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
    records, bad = read_records(output)
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
    with store.session(lambda record: True):
        from llm_extract.errors import LLMExtractError

        with (
            pytest.raises(LLMExtractError, match="another llm-extract run"),
            RunStore(store.path).session(lambda r: True),
        ):
            pass
