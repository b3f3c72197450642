"""Inputs: every file, line or path ends as a Document or an InputFailure that names it and says why."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.inputs.documents import Document, InputFailure, iter_inputs
from llm_extract.runs.store import read_lines
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
    (tmp_path / "memo.docx").write_bytes(b"PK\x03\x04")
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
    assert failures["notes.pdf"].startswith("not a readable PDF (")
    assert "unsupported file type '.docx'" in failures["memo.docx"]
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
    records = {line.doc_id: line.to_dict() for line in read_lines(output)[0]}
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


ARTICLE = "Car bomb in Bogotá: café destroyed, niños among the injured.\nPolice cordoned off the street.\n"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_with_a_bom_are_decoded_and_noted(tmp_path: Path, codec: str) -> None:
    """Their NUL bytes used to get them refused as "binary"; the BOM says what they are."""
    path = tmp_path / "wide.txt"
    data = ARTICLE.encode(codec)
    if codec.endswith("-be"):  # the -be codecs write no BOM of their own
        data = ("\ufeff" + ARTICLE).encode(codec)
    path.write_bytes(data)
    (item,) = iter_inputs([path])
    assert isinstance(item, Document), item
    assert item.text == ARTICLE and item.notes == (f"{codec[:6].upper()} (BOM)",)


def test_mixed_utf8_and_cp1252_lines_are_decoded_per_line_and_reported(tmp_path: Path) -> None:
    """Mostly UTF-8 with two pasted Windows-1252 lines: decoding the whole file as cp1252 turned every UTF-8
    line into mojibake (`BogotÃ¡`); each line is now read in its own encoding and the record says which."""
    lines = ["Car bomb in Bogotá.", "Reuters", "Explosión en Bogotá, niños heridos.", "Policía", "Attaque à Cúcuta."]
    data = b"\n".join(
        line.encode("cp1252" if number in (2, 4) else "utf-8") for number, line in enumerate(lines)
    )  # fmt: skip
    (tmp_path / "mixed.txt").write_bytes(data)
    (item,) = iter_inputs([tmp_path / "mixed.txt"])
    assert isinstance(item, Document)
    assert item.text == "\n".join(lines) and "Ã" not in item.text
    assert item.notes == ("decoded as cp1252: lines 3, 5 (not UTF-8)",)


def test_legacy_lines_in_another_script_are_detected(tmp_path: Path) -> None:
    """Cyrillic Windows-1251 lines are not read as Windows-1252 gibberish (`Âçðûâ`): charset-normalizer names them."""
    russian = "Взрыв в Москве: погибли пять человек, ранены десять."
    data = b"Moscow, 3 May (Interfax)" + b"\n" + russian.encode("cp1251") + b"\nEnd.\n"
    (tmp_path / "ru.txt").write_bytes(data)
    (item,) = iter_inputs([tmp_path / "ru.txt"])
    assert isinstance(item, Document) and russian in item.text
    assert item.notes == ("decoded as cp1251: line 2 (not UTF-8)",)


def test_a_clean_utf8_file_has_no_notes(tmp_path: Path) -> None:
    (tmp_path / "clean.txt").write_text(ARTICLE)
    (item,) = iter_inputs([tmp_path / "clean.txt"])
    assert isinstance(item, Document) and item.text == ARTICLE and item.notes == ()


def _lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "lines.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_lone_surrogates_in_jsonl_ids_and_texts_are_replaced_and_noted(tmp_path: Path) -> None:
    path = _lines(
        tmp_path,
        '{"id": "a\\ud800", "text": "Bomb\\udc00 in \\ud83d\\ude00 town \\ud800."}',
        '{"id": "b", "text": "Strike.", "url": 5, "source": "wire\\udfff"}',
        '{"id": "c", "text": ' + "[" * 100_000 + "}",
        '{"id": 1' + "0" * 5000 + ', "text": "x"}',
    )
    items = list(iter_inputs([path]))
    assert len(items) == 4
    first, second, nested, long_id = items
    assert isinstance(first, Document) and first.id == "a\ufffd"
    assert first.text == "Bomb\ufffd in \U0001f600 town \ufffd."  # a proper pair is one character, kept
    assert first.notes == ("1 lone surrogate in the id replaced with U+FFFD", "2 lone surrogates replaced with U+FFFD")
    assert isinstance(second, Document) and second.url is None and second.source == "wire\ufffd"
    assert second.notes == ("'url' is not a string: ignored",)
    assert isinstance(nested, InputFailure) and "not valid JSON" in nested.reason
    assert isinstance(long_id, InputFailure) and "not valid JSON" in long_id.reason


def test_a_surrogate_in_an_id_or_text_does_not_stop_the_batch(tmp_path: Path) -> None:
    """One line per input, every line valid UTF-8 JSON, the documents after the bad one processed."""
    path = _lines(
        tmp_path,
        '{"id": "s\\ud800", "text": "Rocket attack on a base."}',
        '{"id": "t", "text": "Mortar fire\\udc00 on the airport."}',
        '{"id": "after", "text": "Drone strike."}',
    )
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([path], output, load_settings(base_url=fake.base_url, model="fake"))
    lines = output.read_bytes().decode("utf-8").splitlines()
    records = {record["doc_id"]: record for record in map(json.loads, lines)}
    assert sorted(records) == ["after", "s\ufffd", "t"] and len(lines) == 3
    assert all(record["status"] == "ok" for record in records.values())


def test_an_undecodable_file_name_gives_a_writable_id(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (Path(os.fsdecode(bytes(folder) + b"/caf\xe9.txt"))).write_text("Bomb at a café.")
    (item,) = iter_inputs([folder])
    assert isinstance(item, Document) and item.id == "caf\\xe9"
    item.id.encode("utf-8")
    item.origin.encode("utf-8")


def _without_hanging(paths: list[Path]) -> list[Document | InputFailure]:
    """iter_inputs in a thread: the old code blocked forever opening a FIFO that nobody writes to."""
    result: list[Document | InputFailure] = []
    reader = threading.Thread(target=lambda: result.extend(iter_inputs(paths)), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "reading the inputs hung"
    return result


def test_a_fifo_or_device_is_never_opened_but_ends_as_a_failure(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("Strike on a depot.")
    os.mkfifo(folder / "pipe.txt")
    os.mkfifo(folder / "feed.jsonl")
    (folder / "null.txt").symlink_to("/dev/null")
    os.mkfifo(tmp_path / "named.txt")
    items = {item.id: item for item in _without_hanging([folder, tmp_path / "named.txt", Path("/dev/null")])}
    assert isinstance(items["good"], Document)
    reasons = {doc_id: item.reason for doc_id, item in items.items() if isinstance(item, InputFailure)}
    assert reasons == {
        "pipe": "not a regular file (FIFO)",
        "feed": "not a regular file (FIFO)",
        "null": "not a regular file (character device)",
        str(tmp_path / "named.txt"): "not a regular file (FIFO)",
        "/dev/null": "not a regular file (character device)",
    }
