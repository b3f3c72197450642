"""The stored run line, typed (llm_extract.runs.runline): old runs read, new lines built, bytes kept."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from llm_extract.extraction.extract import ExtractionResult, Usage
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.requests import build_request
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document, InputFailure
from llm_extract.runs import runline, runner
from llm_extract.runs.runline import FORMAT, GroundingSpan, RunLine, TokenUsage, upgrade
from llm_extract.runs.store import RunStore, read_lines, read_run

ROOT = Path(__file__).resolve().parents[1]
STORED_RUNS = sorted((ROOT / "evals").glob("*/*run.jsonl"))
TEXT = "BAGHDAD, Oct 18 (Reuters) - Two drones attacked al-Asad airbase in western Iraq on Wednesday."


def compact(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("path", STORED_RUNS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_stored_run_in_evals_reads_and_writes_back_the_same_bytes(path: Path) -> None:
    spec = load_schema(json.loads(path.read_text().splitlines()[0])["schema"]["name"])
    lines = read_run(path, spec.list_field, spec.json_schema)
    assert not lines.problems and lines.records
    raw = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    for line, stored in zip(lines.records, raw, strict=True):
        assert line.format == stored.get("format", 1)  # 1: written before lines carried a version
        assert line.doc_id == stored["doc_id"] and line.status == stored["status"]
        assert line.list_field == spec.list_field and line.items == stored[spec.list_field]
        assert line.records == (stored[spec.list_field] or [] if stored["status"] == "ok" else [])
        assert isinstance(line.usage, TokenUsage) and line.usage.total_tokens == stored["usage"]["total_tokens"]
        assert line.schema_ref is not None and line.schema_ref.name == spec.name
        assert line.to_dict() == stored and line.to_json() == compact(stored)
        assert all(isinstance(span, GroundingSpan) for span in line.grounding or [])


def test_upgrade_fills_what_format_1_left_out_and_leaves_the_stored_object_alone() -> None:
    old = {"doc_id": "a", "status": "ok", "templates": [], "usage": None, "attempts": 2, "reasks": None,
           "grounding": [{"path": "templates[0].Target[0]", "quote": "x", "status": "not_found", "start": None,
                          "end": None, "score": 0.0}]}  # fmt: skip
    before = json.dumps(old)
    current = upgrade(old)
    assert json.dumps(old) == before
    assert current["format"] == 1
    assert current["attempts"] == 2 and current["reasks"] == 0 and current["retry_after_capped"] == 0
    assert current["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert current["input_notes"] == [] and current["injections"] == [] and current["cached"] is False
    assert current["ungrounded"] == ["templates[0].Target[0]"]
    line = RunLine.from_stored(old)
    assert line.list_field == "templates" and line.reasks == 0 and line.usage.total_tokens == 0
    assert line.grounded and not line.grounding[0].found  # type: ignore[index]
    assert line.to_json() == compact(old)  # written back as it was stored
    newer = {"format": FORMAT, "doc_id": "a", "status": "error", "attempts": None}
    assert upgrade(newer) == newer  # a current line is not touched


def test_a_line_stored_before_grounding_existed_reads_as_not_grounded() -> None:
    line = RunLine.from_stored({"doc_id": "a", "status": "ok", "incidents": []}, "incidents")
    assert line.grounding is None and not line.grounded
    annotated = line.with_annotations({"anchor": None, "grounding": [], "ungrounded": [], "normalized": {}})
    assert annotated.grounded and annotated.grounding == [] and annotated.doc_id == "a"
    assert annotated.to_json() == line.to_json()  # annotations for the page only, never written


def test_unknown_keys_and_a_newer_format_are_kept() -> None:
    stored = {"format": 9, "doc_id": "a", "status": "ok", "incidents": [{"x": 1}], "from_the_future": {"k": [1]}}
    line = RunLine.from_stored(stored, "incidents")
    assert line.format == 9 and line.items == [{"x": 1}] and line.extra("from_the_future") == {"k": [1]}
    assert line.to_json() == compact(stored)


def test_the_list_field_is_found_without_the_schema_and_can_be_chosen() -> None:
    failure = RunLine.from_stored({"doc_id": "a", "status": "error", "error": "boom", "origin": "f.txt"})
    assert failure.list_field is None and failure.items is None and failure.records == []
    line = RunLine.from_stored({"doc_id": "a", "status": "ok", "templates": [{"a": 1}]})
    assert line.list_field == "templates" and line.records == [{"a": 1}]
    assert line.under("incidents").list_field is None and line.under("incidents").items is None
    assert RunLine.coerce(line, "templates") is line
    assert RunLine.coerce({"doc_id": "a", "status": "ok", "incidents": []}, "incidents").records == []


def test_lines_are_frozen() -> None:
    line = RunLine.from_stored({"doc_id": "a", "status": "ok", "incidents": []})
    with pytest.raises(ValueError):
        line.doc_id = "b"  # type: ignore[misc]


def _request_and_result(status: str) -> tuple[Any, ExtractionResult]:
    spec = load_schema("incident_v1")
    document = Document(id="d1", text=TEXT, origin="in.jsonl:1", published="2023-10-19", notes=("repaired",))
    request = build_request(document, load_prompt("incident_v1"))
    incident = {"role": "main", "sub_event_type": "attack", "location": {"site": "al-Asad airbase", "country": "IQ"},
                "date": {"start": None, "end": None, "precision": "unknown", "text": "on Wednesday"},
                "evidence": ["Two drones attacked al-Asad airbase"]}  # fmt: skip
    result = ExtractionResult(
        doc_id="d1", status=status, data={spec.list_field: [incident]} if status == "ok" else None,  # type: ignore[arg-type]
        usage=Usage(10, 5), attempts=2, reasks=1, backoff_s=0.12345, latency_s=1.5,
        error=None if status == "ok" else "failed validation", last_output=None if status == "ok" else "{}",
        duplicates=[{"index": 1}] if status == "ok" else [], salvaged=None if status == "ok" else {"error": "e"},
    )  # fmt: skip
    return request, result


# The writer's contract: the keys of each kind of line, in the order written (runner.py wrote these as dicts).
RESULT_KEYS = ["format", "doc_id", "status", "incidents", "error_kind", "error", "usage", "attempts", "reasks",
               "transport_retries", "backoff_s", "retry_after_capped", "latency_s", "cached", "origin", "published",
               "url", "source", "input_notes", "text_sha256", "injections", "resume_key", "model", "prompt", "schema",
               "finished_at"]  # fmt: skip
ANNOTATION_KEYS = ["anchor", "grounding", "ungrounded", "normalized"]
FAILURE_KEYS = ["format", "doc_id", "status", "error_kind", "error", "origin", "usage", "attempts", "reasks",
                "transport_retries", "backoff_s", "latency_s", "finished_at"]  # fmt: skip


@pytest.mark.parametrize("status", ["ok", "invalid", "error"])
def test_a_line_built_from_a_result_is_the_runners_record_with_its_format(
    status: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runner.result_record's dict, key for key and in order, with "format" first (the writer's contract)."""
    from llm_extract.extraction.annotate import annotate

    for module in (runline, runner):
        monkeypatch.setattr(module, "now_iso", lambda: "2026-01-01T00:00:00+00:00", raising=False)
    spec, prompt = load_schema("incident_v1"), load_prompt("incident_v1")
    request, result = _request_and_result(status)
    stub = SimpleNamespace(schema=spec, prompt=prompt, model="m", work_key=lambda document: "key")
    record = runner.BatchRunner.result_record(stub, request, result)  # type: ignore[arg-type]
    line = RunLine.from_result(
        request, result, list_field=spec.list_field, resume_key="key", model="m", prompt=prompt, schema=spec,
        annotate=lambda items: annotate(items, request.document, spec),
    )  # fmt: skip
    optional = ["duplicates"] if status == "ok" else ["salvaged", "last_output"]
    assert list(line.to_dict()) == RESULT_KEYS + (ANNOTATION_KEYS if status == "ok" else []) + optional
    assert list(line.to_dict()) == list(record.to_dict()) and line.to_json() == compact(record.to_dict())
    assert line.format == FORMAT and line.doc_id == "d1" and line.status == status
    assert line.usage.total_tokens == 15 and line.backoff_s == 0.123 and line.input_notes == ["repaired"]
    assert line.prompt is not None and line.prompt.name == prompt.name
    assert line.schema_ref is not None and line.schema_ref.sha256 == spec.sha256
    if status == "ok":
        assert line.items == result.data[spec.list_field] and line.grounded  # type: ignore[index]
        assert line.duplicates == [{"index": 1}] and line.last_output is None
    else:
        assert line.items is None and line.grounding is None and line.last_output == "{}"
    assert RunLine.from_stored(json.loads(line.to_json()), spec.list_field).to_dict() == line.to_dict()


def test_a_failure_line_has_the_failure_keys_in_order_with_its_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runline, "now_iso", lambda: "2026-01-01T00:00:00+00:00")
    failure = InputFailure("d1", "in.jsonl:3", "not UTF-8")
    line = RunLine.failure(failure, "input")
    assert list(line.to_dict()) == FAILURE_KEYS
    assert line.to_json() == compact(line.to_dict()) and line.origin == "in.jsonl:3" and line.error == "not UTF-8"
    assert line.status == "error" and line.error_kind == "input" and line.items is None


def test_a_format_that_is_not_a_version_is_a_named_problem(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    run.write_text('{"doc_id": "a", "status": "ok", "incidents": [], "format": "two"}\n'
                   '{"doc_id": "b", "status": "ok", "incidents": [], "format": 2}\n')  # fmt: skip
    lines = read_run(run, "incidents")
    assert [line.doc_id for line in lines.records] == ["b"] and lines.records[0].format == 2
    assert lines.warnings() == [f"{run}:1: format 'two' is not a format version (1, 2, ...); line skipped"]


def test_a_resumed_run_rewrites_kept_lines_byte_for_byte(tmp_path: Path) -> None:
    old = '{"doc_id": "a", "status": "ok", "incidents": [], "usage": {"prompt_tokens": 1}}'  # spaced: not ours
    run = tmp_path / "run.jsonl"
    run.write_text(f"{old}\n" + '{"doc_id":"b","status":"error"}\n')
    store = RunStore(run)
    with store.open_lines(lambda line: line.ok) as opened:
        assert list(opened.kept) == ["a"] and opened.dropped == 1
        store.append(RunLine.failure(InputFailure("c", "x", "gone")))
    first, second = run.read_text().splitlines()
    assert first == compact(json.loads(old)).decode()  # the rewrite is compact, like every line the runner writes
    assert json.loads(second)["format"] == FORMAT
    lines, bad = read_lines(run)
    assert [line.doc_id for line in lines] == ["a", "c"] and bad == 0 and [line.format for line in lines] == [1, 2]


def test_reading_ten_thousand_lines_stays_fast(tmp_path: Path) -> None:
    stored = (ROOT / "evals" / "seeds" / "reference_run.jsonl").read_text().splitlines()
    run = tmp_path / "big.jsonl"
    run.write_text("".join(f"{stored[i % len(stored)]}\n" for i in range(10_000)))
    started = time.perf_counter()
    lines = read_run(run, "incidents")
    assert len(lines.records) == 10_000
    assert time.perf_counter() - started < 30  # about 2 s on one loaded core; a per-line validation took minutes
