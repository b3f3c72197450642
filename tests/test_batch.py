"""The Batch API path: one job for the pending documents, then the normal path for what it did not settle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_extract.api import extract_batch, make_extractor
from llm_extract.core.errors import LLMExtractError
from llm_extract.extraction.requests import build_request
from llm_extract.inputs.documents import Document
from llm_extract.providers.provider import remote_endpoint
from llm_extract.runs.batch_api import BatchSubmitter, request_body
from llm_extract.testing.fake_openai import DEFAULT_ANSWER, INVALID_ANSWER, FakeOpenAI
from tests.test_runner import lines, settings_for, write_docs


def run_batch(docs: Path, output: Path, fake: FakeOpenAI, **overrides: object):
    return extract_batch([docs], output, settings_for(fake, **overrides), batch=True, batch_poll_s=0.0)


def test_happy_path_needs_no_chat_call(tmp_path: Path) -> None:
    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 6)
    (docs / "empty.txt").write_text("")
    with FakeOpenAI(batch_polls=3) as fake:
        summary = run_batch(docs, output, fake)
    assert fake.requests == [], "no per-document chat call"
    assert len(fake.batch_requests) == 6, "the unreadable document is not submitted"
    assert fake.calls["POST /v1/files"] == 1 and fake.calls["POST /v1/batches"] == 1
    records = lines(output)
    assert sorted(r["doc_id"] for r in records) == sorted([f"doc{i:03d}" for i in range(6)] + ["empty"])
    by_id = {r["doc_id"]: r for r in records}
    assert by_id["empty"]["status"] == "error" and by_id["empty"]["error_kind"] == "input"
    for doc_id in (f"doc{i:03d}" for i in range(6)):
        record = by_id[doc_id]
        assert record["status"] == "ok" and record["attempts"] == 1 and record["reasks"] == 0
        assert record["usage"] == {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    manifest = json.loads(summary.manifest_path.read_text())
    batch = manifest["batch"]
    assert batch["id"] == "batch_1" and batch["submitted"] == 6 and batch["output_file_id"]
    assert [step["status"] for step in batch["status_history"]] == ["validating", "in_progress", "completed"]
    assert batch["counts"] == {"valid": 6, "invalid": 0, "failed": 0}
    assert manifest["status"] == "complete" and manifest["counts"]["statuses"] == {"ok": 6, "invalid": 0, "error": 1}
    assert manifest["counts"]["usage"]["total_tokens"] == 6 * 120


def test_invalid_and_failed_lines_go_the_normal_way_and_end_ok(tmp_path: Path) -> None:
    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 8)
    script = ["ok", "invalid", "error", "ok", "truncated", "error", "ok", "invalid"]
    with FakeOpenAI(batch_script=script) as fake:
        summary = run_batch(docs, output, fake, max_reasks=2)
    records = lines(output)
    ids = [r["doc_id"] for r in records]
    assert sorted(ids) == [f"doc{i:03d}" for i in range(8)] and len(ids) == len(set(ids)), "each exactly once"
    by_id = {r["doc_id"]: r for r in records}
    assert all(r["status"] == "ok" for r in records)
    for doc_id in ("doc001", "doc004", "doc007"):  # rejected batch answers: re-asked from, one chat call each
        assert by_id[doc_id]["attempts"] == 2 and by_id[doc_id]["reasks"] == 1
        assert by_id[doc_id]["usage"]["total_tokens"] == 240
    for doc_id in ("doc002", "doc005"):  # failed lines: done from the start
        assert by_id[doc_id]["attempts"] == 1 and by_id[doc_id]["reasks"] == 0
    for doc_id in ("doc000", "doc003", "doc006"):
        assert by_id[doc_id]["attempts"] == 1 and by_id[doc_id]["reasks"] == 0
    assert len(fake.requests) == 5
    reasks = [request for request in fake.requests if len(request["messages"]) > 2]
    assert len(reasks) == 3, "the rejected batch answers are re-asked about, not asked again"
    originals = {line["custom_id"]: line["body"]["messages"] for line in fake.batch_requests}
    rejected = {
        "doc001": INVALID_ANSWER,
        "doc004": DEFAULT_ANSWER[: len(DEFAULT_ANSWER) // 2],
        "doc007": INVALID_ANSWER,
    }
    for doc_id, answer in rejected.items():
        (request,) = [r for r in reasks if r["messages"][: len(originals[doc_id])] == originals[doc_id]]
        assert request["messages"][-2] == {"role": "assistant", "content": answer}
        assert request["messages"][-1]["role"] == "user"
    manifest = json.loads(summary.manifest_path.read_text())
    assert manifest["batch"]["counts"] == {"valid": 3, "invalid": 3, "failed": 2}
    assert manifest["batch"]["error_file_id"]
    assert manifest["counts"]["statuses"] == {"ok": 8, "invalid": 0, "error": 0}
    assert manifest["counts"]["attempts"] == sum(r["attempts"] for r in records) == 11


def test_reask_budget_still_applies_to_batch_answers(tmp_path: Path) -> None:
    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 1)
    with FakeOpenAI(batch_script=["invalid"], script=["invalid"]) as fake:
        run_batch(docs, output, fake, max_reasks=1)
    (record,) = lines(output)
    assert record["status"] == "invalid" and record["error_kind"] == "validation"
    assert record["attempts"] == 2 and record["reasks"] == 1 and len(fake.requests) == 1
    assert record["last_output"]


def test_expired_batch_redoes_every_document(tmp_path: Path) -> None:
    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 4)
    with FakeOpenAI(batch_final="expired") as fake:
        summary = run_batch(docs, output, fake)
    assert len(fake.requests) == 4
    assert {r["status"] for r in lines(output)} == {"ok"}
    batch = json.loads(summary.manifest_path.read_text())["batch"]
    assert batch["status_history"][-1]["status"] == "expired"
    assert batch["counts"] == {"valid": 0, "invalid": 0, "failed": 4}


def test_rerun_submits_nothing_already_stored(tmp_path: Path) -> None:
    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 5)
    with FakeOpenAI() as fake:
        run_batch(docs, output, fake)
    with FakeOpenAI() as fake:
        second = run_batch(docs, output, fake)
        assert fake.calls == {"GET /v1/models": 1}, "the preflight only: no upload, no batch, no chat call"
    assert second.stats.resumed == 5
    assert json.loads(second.manifest_path.read_text())["batch"] is None
    write_docs(docs, 7)  # two new documents: only they are submitted
    with FakeOpenAI() as fake:
        third = run_batch(docs, output, fake)
        assert [line["custom_id"] for line in fake.batch_requests] == ["doc005", "doc006"]
    assert third.stats.resumed == 5
    assert sorted(r["doc_id"] for r in lines(output)) == [f"doc{i:03d}" for i in range(7)]


def test_batch_body_equals_the_normal_request_body(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    with FakeOpenAI() as fake:
        extract_batch([docs], tmp_path / "normal.jsonl", settings_for(fake))
        (sent,) = fake.requests
    with FakeOpenAI() as fake:
        run_batch(docs, tmp_path / "batch.jsonl", fake)
        (line,) = fake.batch_requests
    assert line["method"] == "POST" and line["url"] == "/v1/chat/completions" and line["custom_id"] == "doc000"
    assert line["body"] == sent
    assert sent["response_format"]["type"] == "json_schema"


@pytest.mark.parametrize("mode", ["tools", "json", "md_json"])
def test_batch_body_matches_in_other_modes(tmp_path: Path, mode: str) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    with FakeOpenAI() as fake:
        settings = settings_for(fake, mode=mode)
        extract_batch([docs], tmp_path / "normal.jsonl", settings)
        (sent,) = fake.requests
        extractor = make_extractor(remote_endpoint(settings), settings)
        document = Document(id="doc000", text=(docs / "doc000.txt").read_text(), origin="doc000.txt")
        body = request_body(extractor, build_request(document, extractor.prompt))
    assert body == sent


def test_submission_failure_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 2)

    def refuse(payload: dict) -> dict:
        raise KeyError("refused")

    with FakeOpenAI() as fake:
        monkeypatch.setattr(fake, "_create_batch", refuse)  # POST /v1/batches answers 400
        with pytest.raises(LLMExtractError, match="Batch API job failed"):
            extract_batch([docs], output, settings_for(fake, max_retries=0), batch=True, batch_poll_s=0.0)
        assert fake.requests == []
    assert json.loads((tmp_path / "out.manifest.json").read_text())["status"] == "interrupted"
    assert not output.read_text(), "nothing stored: a rerun submits every document again"


def test_batch_refuses_the_embedded_model_and_the_cache(tmp_path: Path) -> None:
    from llm_extract.core.config import load_settings
    from llm_extract.runs.cache import ResponseCache

    with pytest.raises(LLMExtractError, match="needs a server"):
        extract_batch([tmp_path], tmp_path / "o.jsonl", load_settings(), batch=True)
    with pytest.raises(LLMExtractError, match="response cache"):
        extract_batch(
            [tmp_path], tmp_path / "o.jsonl", load_settings(), batch=True, cache=ResponseCache(tmp_path / "c")
        )


def test_poll_interval_is_honoured(tmp_path: Path) -> None:
    slept: list[float] = []
    with FakeOpenAI(batch_polls=4) as fake:
        settings = settings_for(fake)
        extractor = make_extractor(remote_endpoint(settings), settings)
        from llm_extract.providers.provider import make_sync_client

        client = make_sync_client(remote_endpoint(settings), settings)
        document = Document(id="a", text="A drone struck a base.", origin="a")
        request = build_request(document, extractor.prompt)
        outcomes = BatchSubmitter(extractor, client, poll_s=7.5, sleep=slept.append).run([request])
        client.close()
    assert slept == [7.5] * 4
    assert outcomes["a"].status == "ok"  # type: ignore[union-attr]


def test_cli_batch_flag(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llm_extract.cli import app

    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 3)
    with FakeOpenAI(batch_script=["ok", "invalid", "ok"]) as fake:
        args = ["extract", str(docs), "-o", str(output), "--base-url", fake.base_url, "--model", "fake"]
        result = CliRunner().invoke(app, [*args, "--batch", "--batch-poll-s", "0"])
        assert result.exit_code == 0, result.output
        assert len(fake.batch_requests) == 3 and len(fake.requests) == 1
    assert {r["status"] for r in lines(output)} == {"ok"}
    assert json.loads((tmp_path / "out.manifest.json").read_text())["batch"]["counts"]["valid"] == 2


def test_run_killed_while_polling_takes_its_job_up_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llm_extract.runs.batch_api as batch_module

    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 4)

    def killed(seconds: float) -> None:
        raise KeyboardInterrupt

    with FakeOpenAI(batch_polls=3, batch_script=["ok", "invalid", "ok", "ok"]) as fake:
        monkeypatch.setattr(batch_module, "_pause", killed)
        with pytest.raises(KeyboardInterrupt):
            extract_batch([docs], output, settings_for(fake), batch=True, batch_poll_s=1.0)
        manifest = json.loads((tmp_path / "out.manifest.json").read_text())
        assert manifest["status"] == "interrupted" and manifest["batch"]["id"] == "batch_1"
        assert not output.read_text()
        monkeypatch.undo()
        summary = run_batch(docs, output, fake)
        assert fake.calls["POST /v1/batches"] == 1 and fake.calls["POST /v1/files"] == 1, "not submitted again"
        assert len(fake.requests) == 1, "only the invalid answer's re-ask"
    batch = json.loads(summary.manifest_path.read_text())["batch"]
    assert batch["id"] == "batch_1" and batch["taken_up"] is True
    assert [step["status"] for step in batch["status_history"]] == ["validating", "in_progress", "completed"]
    assert sorted(r["doc_id"] for r in lines(output)) == [f"doc{i:03d}" for i in range(4)]
    assert {r["status"] for r in lines(output)} == {"ok"}


def test_a_changed_request_is_not_answered_by_the_old_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import llm_extract.runs.batch_api as batch_module

    docs, output = tmp_path / "docs", tmp_path / "out.jsonl"
    write_docs(docs, 2)

    def killed(seconds: float) -> None:
        raise KeyboardInterrupt

    with FakeOpenAI() as fake:
        monkeypatch.setattr(batch_module, "_pause", killed)
        with pytest.raises(KeyboardInterrupt):
            extract_batch([docs], output, settings_for(fake), batch=True, batch_poll_s=1.0)
        monkeypatch.undo()
        summary = run_batch(docs, output, fake, temperature=0.5)  # other bodies: a new job
        assert fake.calls["POST /v1/batches"] == 2
    batch = json.loads(summary.manifest_path.read_text())["batch"]
    assert batch["id"] == "batch_2" and batch["taken_up"] is False
    assert all(line["body"]["temperature"] == 0.5 for line in fake.batch_requests)
