"""Inputs: every file, line or path ends as a Document or an InputFailure that names it and says why."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llm_extract.api import extract_batch
from llm_extract.config import load_settings
from llm_extract.documents import Document, InputFailure, iter_inputs
from llm_extract.store import read_records
from llm_extract.testing.fake_openai import FakeOpenAI


def _by_id(paths: list[Path]) -> dict[str, Document | InputFailure]:
    return {item.id: item for item in iter_inputs(paths)}


def test_text_files_folders_and_jsonl(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("Drone strike on a base.")
    (folder / "sub" / "b.md").write_text("# Clash\nFighting in the north.")
    (folder / ".hidden.txt").write_text("ignored")
    jsonl = tmp_path / "batch.jsonl"
    jsonl.write_text(
        json.dumps({"id": "x1", "text": "Rocket attack.", "published": "2023-10-18T10:00:00Z", "url": "u"}) + "\n"
        + json.dumps({"id": 7, "text": "Shelling."}) + "\n"
        + json.dumps({"docid": "TST3-MUC4-0001", "doctext": "A bomb exploded.", "templates": []}) + "\n"
    )  # fmt: skip
    items = _by_id([folder, jsonl])
    assert set(items) == {"a", "sub/b", "x1", "7", "TST3-MUC4-0001"}
    assert all(isinstance(item, Document) for item in items.values())
    assert items["TST3-MUC4-0001"].text == "A bomb exploded."  # GTT's docid/doctext names are read too
    x1 = items["x1"]
    assert isinstance(x1, Document) and x1.published == "2023-10-18" and x1.url == "u"
    assert x1.origin.endswith("batch.jsonl:1")


def test_bad_inputs_become_failures_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("  \n\t\n")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("Attaque à Mossoul, café détruit.".encode("latin-1"))
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    jsonl = tmp_path / "lines.jsonl"
    jsonl.write_text(
        '{"id": "ok1", "text": "Strike."}\n'
        "{not json\n"
        '{"id": "no-text"}\n'
        '{"text": "no id"}\n'
        '{"id": "ok1", "text": "duplicate"}\n'
        '{"id": "bad-date", "text": "x", "published": "yesterday"}\n'
        "[1, 2]\n"
    )
    items = list(iter_inputs([tmp_path, tmp_path / "missing.txt"]))
    failures = {item.origin.rsplit("/", 1)[-1]: item.reason for item in items if isinstance(item, InputFailure)}
    assert failures["empty.txt"] == "empty document (no text)"
    assert failures["blank.txt"] == "empty document (no text)"
    assert "binary" in failures["binary.txt"]
    assert "unsupported file type '.pdf'" in failures["notes.pdf"]
    assert "not valid JSON" in failures["lines.jsonl:2"]
    assert "missing 'text'" in failures["lines.jsonl:3"]
    assert "missing 'id'" in failures["lines.jsonl:4"]
    assert "duplicate id 'ok1'" in failures["lines.jsonl:5"]
    assert "not an ISO date" in failures["lines.jsonl:6"]
    assert "not a JSON object" in failures["lines.jsonl:7"]
    assert failures["missing.txt"] == "no such file or folder"
    latin = next(item for item in items if item.id == "latin1")
    assert isinstance(latin, Document) and "café détruit" in latin.text
    ids = [item.id for item in items]
    assert len(ids) == len(set(ids)), "every input must have its own id so that no record shadows another"


def test_invalid_utf8_that_is_not_latin1_text_is_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_bytes(b"abc \x81\x8d\x8f\x90 def")
    (item,) = iter_inputs([tmp_path / "junk.txt"])
    assert isinstance(item, InputFailure) and "not UTF-8" in item.reason


def test_unreadable_file_in_a_folder_is_a_failure_naming_it(tmp_path: Path) -> None:
    """A dangling symlink fails to read for every user, root included (root reads through chmod 000)."""
    (tmp_path / "good.txt").write_text("Strike on a depot.")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "deleted-target.txt")
    items = _by_id([tmp_path])
    assert isinstance(items["good"], Document)
    gone = items["gone"]
    assert isinstance(gone, InputFailure) and gone.origin.endswith("gone.txt")
    assert gone.reason == "cannot read file: No such file or directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode; see the dangling-symlink test")
def test_file_without_read_permission_is_a_failure_naming_it(tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text("Secret article.")
    locked.chmod(0)
    try:
        (item,) = iter_inputs([tmp_path])
    finally:
        locked.chmod(0o644)
    assert isinstance(item, InputFailure) and item.id == "locked"
    assert item.reason == "cannot read file: Permission denied"


def test_bad_inputs_each_get_an_error_line_with_their_reason(tmp_path: Path) -> None:
    """Through the whole batch: each bad input is one output line, status error, error_kind input, its reason."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Two drones struck a base.")
    (docs / "empty.txt").write_text("")
    (docs / "blank.txt").write_text(" \n\t ")
    (docs / "binary.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    (docs / "junk.txt").write_bytes(b"abc \x81\x8d\x8f\x90 def")
    (docs / "latin1.txt").write_bytes("Attaque à Mossoul, café détruit.".encode("latin-1"))
    (docs / "gone.txt").symlink_to(docs / "nowhere.txt")
    (docs / "lines.jsonl").write_text('{"id": "good", "text": "again"}\n{broken\n{"id": "j1"}\n')
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        settings = load_settings(base_url=fake.base_url, model="fake")
        extract_batch([docs], output, settings)
        assert len(fake.requests) == 2, "only the readable articles are sent"
    records = {record["doc_id"]: record for record in read_records(output)[0]}
    expected = {
        "empty": "empty document (no text)",
        "blank": "empty document (no text)",
        "binary": "binary file (contains NUL bytes), not text",
        "junk": "not UTF-8 text (invalid start byte at byte 4)",
        "gone": "cannot read file: No such file or directory",
        f"{docs}/lines.jsonl:2": "line is not valid JSON",
        "j1": "missing 'text' (a string)",
        f"good@{docs}/lines.jsonl:1": "duplicate id 'good' (first at",
    }
    for doc_id, reason in expected.items():
        record = records[doc_id]
        assert (record["status"], record["error_kind"]) == ("error", "input"), doc_id
        assert record["error"].startswith(reason), (doc_id, record["error"])
        assert record["origin"].startswith(str(docs)), "the line names where the document came from"
    assert records["good"]["status"] == records["latin1"]["status"] == "ok"
    assert len(records) == len(expected) + 2
