"""Run integrity (issue 12): no hang, no silent loss, nothing overwritten unasked, one line per input."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_extract.api import extract_batch
from llm_extract.cli import app
from llm_extract.core.config import load_settings
from llm_extract.core.errors import LLMExtractError
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.runs import runner as runner_module
from llm_extract.runs.identity import WorkIdentity
from llm_extract.runs.runline import RunLine
from llm_extract.runs.store import OutputError, RunStore, manifest_path_for, read_lines
from llm_extract.testing.fake_openai import FakeOpenAI

from .test_runner import lines, settings_for, write_docs


def run_bounded(function, timeout_s: float = 60.0):
    """Call `function` in a thread and fail (instead of hanging the suite) if it does not return in time."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"still running after {timeout_s} s: the run hangs"
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def test_an_exception_while_storing_one_document_becomes_its_error_line_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 6)
    original = runner_module.BatchRunner.result_record

    def explode_on_doc003(self, request, result):  # type: ignore[no-untyped-def]
        if request.doc_id == "doc003":
            raise RuntimeError("annotation blew up")
        return original(self, request, result)

    monkeypatch.setattr(runner_module.BatchRunner, "result_record", explode_on_doc003)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        summary = run_bounded(lambda: extract_batch([docs], output, settings_for(fake, concurrency=2)))
    by_id = {record["doc_id"]: record for record in lines(output)}
    assert sorted(by_id) == [f"doc{i:03d}" for i in range(6)]
    assert by_id["doc003"]["status"] == "error" and by_id["doc003"]["error_kind"] == "internal"
    assert "annotation blew up" in by_id["doc003"]["error"]
    assert summary.manifest["status"] == "complete"


def test_disk_full_stops_the_run_with_a_clear_reason_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 20)
    output = tmp_path / "out.jsonl"
    count = {"lines": 0}

    def append_then_fail(self, record):  # type: ignore[no-untyped-def]
        count["lines"] += 1
        if count["lines"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(self, record)

    real_append = RunStore.append
    monkeypatch.setattr(RunStore, "append", lambda self, record: _wrap_oserror(append_then_fail, self, record))
    with FakeOpenAI() as fake:
        summary = run_bounded(lambda: extract_batch([docs], output, settings_for(fake, concurrency=4)))
    assert summary.stats.aborted and "No space left on device" in summary.stats.aborted
    assert summary.manifest["status"] == "aborted"
    assert len(lines(output)) == 3, "lines written before the disk filled are kept, whole"


def _wrap_oserror(function, store, record):  # type: ignore[no-untyped-def]
    """RunStore.append turns OSError into OutputError; the patched one must too."""
    try:
        return function(store, record)
    except OSError as exc:
        raise OutputError(f"cannot write {store.requested}: {exc.strerror}") from exc


def test_disk_full_through_the_cli_exits_non_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 4)

    def full(self, record):  # type: ignore[no-untyped-def]
        raise OutputError(f"cannot write {self.requested}: No space left on device")

    monkeypatch.setattr(RunStore, "append", full)
    with FakeOpenAI() as fake:
        result = run_bounded(lambda: CliRunner().invoke(
            app, ["extract", str(docs), "-o", str(tmp_path / "out.jsonl"), "--base-url", fake.base_url,
                  "--model", "fake"]))  # fmt: skip
    assert result.exit_code == 1
    assert "No space left on device" in " ".join(result.output.split())


@pytest.mark.parametrize("doc_id", ["[/x]", "[bold]a", "line\nbreak", "esc\x1b[31mred", "bell\x07"])
def test_ids_with_markup_or_control_characters_are_printed_as_text_and_every_line_is_written(
    tmp_path: Path, doc_id: str
) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"id": doc_id, "text": "A drone struck a base."}, {"id": doc_id + "2", "text": ""},
            {"id": "plain", "text": "Rockets hit a town."}]  # fmt: skip
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "out.jsonl"
    with FakeOpenAI(script=["server_error"] * 10) as fake:
        result = run_bounded(lambda: CliRunner().invoke(
            app, ["extract", str(source), "-o", str(output), "--base-url", fake.base_url, "--model", "fake",
                  "--max-retries", "0"]))  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert sorted(record["doc_id"] for record in lines(output)) == sorted([doc_id, doc_id + "2", "plain"])
    assert "\x1b[31m" not in result.output and "\x07" not in result.output, "control characters reach the terminal"
    if doc_id == "[/x]":
        assert "[/x]" in result.output


def test_an_existing_file_that_is_not_a_run_is_refused_and_left_untouched(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nsecond line\n")
    with FakeOpenAI() as fake, pytest.raises(OutputError, match="not an llm-extract run"):
        extract_batch([docs], notes, settings_for(fake))
    assert notes.read_text() == "my notes\nsecond line\n"
    assert not manifest_path_for(notes).exists()


def test_the_input_jsonl_given_as_output_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "A drone struck a base."}) + "\n")
    before = source.read_bytes()
    with FakeOpenAI() as fake:
        with pytest.raises(OutputError, match="is the input"):
            extract_batch([source], source, settings_for(fake))
        with pytest.raises(OutputError, match="is inside the input"):
            extract_batch([tmp_path], tmp_path / "out.jsonl", settings_for(fake))
    assert source.read_bytes() == before


def test_a_run_made_with_another_prompt_is_not_overwritten_without_overwrite(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
    before = output.read_bytes()
    with FakeOpenAI() as fake:
        with pytest.raises(OutputError, match=r"prompt_sha256.*--overwrite"):
            extract_batch([docs], output, settings_for(fake, prompt_name="muc4_v1"))
        with pytest.raises(OutputError, match=r"model: 'fake' -> 'other'"):
            extract_batch([docs], output, load_settings(base_url=fake.base_url, model="other"))
        assert fake.requests == [], "a refused run sends nothing"
    assert output.read_bytes() == before
    with FakeOpenAI() as fake:
        summary = extract_batch([docs], output, settings_for(fake, temperature=0.5), overwrite=True)
        assert len(fake.requests) == 3, "--overwrite redoes every document"
    assert summary.manifest["work"]["temperature"] == 0.5 and len(lines(output)) == 3


def test_a_run_with_other_concurrency_or_retries_still_resumes(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
    with FakeOpenAI() as fake:
        summary = extract_batch([docs], output, settings_for(fake, concurrency=3, max_retries=1))
        assert fake.requests == []
    assert summary.stats.resumed == 3


def test_correcting_the_publication_date_redoes_that_document(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"id": "a", "text": "A drone struck a base on Wednesday.", "published": "2023-10-18"},
            {"id": "b", "text": "Rockets hit a town.", "published": "2023-10-18"}]  # fmt: skip
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([source], output, settings_for(fake))
    rows[0]["published"] = "2023-10-19"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with FakeOpenAI() as fake:
        summary = extract_batch([source], output, settings_for(fake))
        assert len(fake.requests) == 1 and "2023-10-19" in json.dumps(fake.requests[0])
    assert summary.stats.resumed == 1
    assert {r["doc_id"]: r["published"] for r in lines(output)} == {"a": "2023-10-19", "b": "2023-10-18"}


def _identity(**overrides: object) -> WorkIdentity:
    settings = load_settings(base_url=None, **overrides)
    return WorkIdentity.of(settings, load_prompt("incident_v1"), load_schema("incident_v1"))


def test_the_work_identity_covers_the_weights_and_the_publication_date(tmp_path: Path) -> None:
    first, second = tmp_path / "a.gguf", tmp_path / "b.gguf"
    first.write_bytes(b"GGUF weights one")
    second.write_bytes(b"GGUF weights two")
    default, one, two = _identity(), _identity(model_path=first), _identity(model_path=second)
    assert len({default.endpoint, one.endpoint, two.endpoint}) == 3, "other weights are other work"
    assert one.model == two.model, "the embedded server's model name is always the same alias"
    key = default.document_key("abc", "2023-10-18")
    assert key != default.document_key("abc", "2023-10-19") and key != default.document_key("abc", None)
    assert key != one.document_key("abc", "2023-10-18")
    assert _identity(concurrency=8, max_retries=0).document_key("abc", None) == default.document_key("abc", None)
    assert _identity(max_reasks=0).document_key("abc", None) != default.document_key("abc", None)
    assert [d.split(":")[0] for d in default.differences(one.describe())] == ["endpoint"]


def test_a_second_run_through_a_symlink_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
    link = tmp_path / "link.jsonl"
    link.symlink_to(output)
    manifest = manifest_path_for(output)
    before = (output.read_bytes(), manifest.read_bytes())
    with RunStore(output).locked(), FakeOpenAI() as fake:
        with pytest.raises(LLMExtractError, match="another llm-extract run"):
            extract_batch([docs], link, settings_for(fake))
        with pytest.raises(LLMExtractError, match="another llm-extract run"):
            extract_batch([docs], tmp_path / "." / "out.jsonl", settings_for(fake))
    assert (output.read_bytes(), manifest.read_bytes()) == before, "the refused run wrote nothing"
    assert not manifest_path_for(link).exists()


def test_manifest_totals_cover_every_invocation(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
    write_docs(docs, 5)
    with FakeOpenAI() as fake:
        summary = extract_batch([docs], output, settings_for(fake))
    counts, invocation = summary.manifest["counts"], summary.manifest["invocation"]
    assert counts["documents"] == 5 and counts["statuses"]["ok"] == 5
    assert counts["usage"]["total_tokens"] == sum(r["usage"]["total_tokens"] for r in lines(output))
    assert invocation["processed"] == 2 and invocation["resumed"] == 3


def test_a_fixed_broken_jsonl_line_replaces_its_old_error_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "text": "A drone struck a base."}\n{"id": "b", "text": broken}\n')
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([source], output, settings_for(fake))
    assert sorted(r["doc_id"] for r in lines(output)) == sorted(["a", f"{source}:2"])
    source.write_text('{"id": "a", "text": "A drone struck a base."}\n{"id": "b", "text": "Rockets hit."}\n')
    with FakeOpenAI() as fake:
        extract_batch([source], output, settings_for(fake))
    assert sorted(r["doc_id"] for r in lines(output)) == ["a", "b"]


def test_orphan_temporary_files_of_a_killed_rewrite_are_removed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    output = tmp_path / "out.jsonl"
    orphan = tmp_path / ".out.jsonl.99999.tmp"
    orphan.write_bytes(b"x" * 1000)
    unrelated = tmp_path / ".other.jsonl.99999.tmp"
    unrelated.write_bytes(b"keep")
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
    assert not orphan.exists() and unrelated.exists()


def test_every_document_failing_exits_non_zero(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    with FakeOpenAI(script=["server_error"] * 3) as fake:
        result = CliRunner().invoke(app, ["extract", str(docs), "-o", str(tmp_path / "out.jsonl"), "--base-url",
                                          fake.base_url, "--model", "fake", "--max-retries", "0"])  # fmt: skip
    assert result.exit_code == 1 and "no document ended ok" in result.output


def test_negative_limit_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["extract", str(tmp_path), "-o", str(tmp_path / "o.jsonl"), "--limit", "-1"])
    assert (result.exit_code == 2 and result.exception is None) or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_lines_with_lone_surrogates_or_nan_are_stored_as_valid_json(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "out.jsonl")
    line = {"doc_id": "a\ud800", "status": "error", "error": "bad \udcff text", "backoff_s": float("nan")}
    with store.open_lines(lambda line: True):
        store.append(RunLine.from_stored(line))
    raw = store.path.read_bytes()
    raw.decode("utf-8")  # valid UTF-8
    assert json.loads(raw)["backoff_s"] is None
    (stored,), bad = read_lines(store.path)
    assert bad == 0 and stored.doc_id == "a\ud800" and stored.error == "bad \udcff text"


def test_sigterm_ends_the_run_like_ctrl_c_and_a_rerun_completes_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 40)
    output = tmp_path / "out.jsonl"
    cli = Path(sys.executable).with_name("llm-extract")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLM_EXTRACT_", "OPENAI_"))}
    env.update(LLM_EXTRACT_CACHE_DIR=str(tmp_path))
    with FakeOpenAI(latency_s=0.2) as fake:
        command = [str(cli), "extract", str(docs), "-o", str(output), "-j", "2", "--model", "fake",
                   "--base-url", fake.base_url]  # fmt: skip
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (output.exists() and output.read_bytes().count(b"\n") >= 3):
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        assert process.returncode == 128 + signal.SIGTERM
        manifest = json.loads(manifest_path_for(output).read_text())
        assert manifest["status"] == "interrupted", manifest["status"]
        rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    assert sorted(r["doc_id"] for r in lines(output)) == [f"doc{i:03d}" for i in range(40)]


def test_a_lock_file_that_cannot_be_created_is_an_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def read_only(path, flags, *args):  # type: ignore[no-untyped-def]
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    result = CliRunner().invoke(app, ["extract", str(docs), "-o", str(tmp_path / "out.jsonl"), "--base-url",
                                      "http://127.0.0.1:9/v1", "--model", "fake"])  # fmt: skip
    assert result.exit_code == 2 and "Read-only file system" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_a_file_where_the_manifest_goes_is_never_overwritten(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 1)
    foreign = tmp_path / "res.manifest.json"
    foreign.write_text('{"my": "config"}\n')
    with FakeOpenAI() as fake:
        with pytest.raises(OutputError, match="not an llm-extract manifest"):
            extract_batch([docs], tmp_path / "res.jsonl", settings_for(fake))
        source = tmp_path / "r.manifest.json"
        source.write_text(json.dumps({"id": "a", "text": "A drone struck a base."}) + "\n")
        with pytest.raises(OutputError, match="its manifest is the input"):
            extract_batch([source], tmp_path / "r.jsonl", settings_for(fake))
    assert foreign.read_text() == '{"my": "config"}\n'
    assert not (tmp_path / "res.jsonl").exists()


def test_an_output_with_other_hard_links_is_refused(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], output, settings_for(fake))
        os.link(output, tmp_path / "hard.jsonl")
        with pytest.raises(OutputError, match="other hard links"):
            extract_batch([docs], tmp_path / "hard.jsonl", settings_for(fake))


def test_review_and_fuse_never_replace_a_run_its_manifest_or_a_foreign_file(tmp_path: Path) -> None:
    from llm_extract.api import fuse_runs, review_run

    docs = tmp_path / "docs"
    write_docs(docs, 2)
    run = tmp_path / "r.jsonl"
    with FakeOpenAI() as fake:
        extract_batch([docs], run, settings_for(fake))
    before = (run.read_bytes(), manifest_path_for(run).read_bytes())
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n")
    for target in (run, manifest_path_for(run), notes):
        with pytest.raises(OutputError):
            review_run(run, target)
        with pytest.raises(OutputError):
            fuse_runs([run], target)
    assert (run.read_bytes(), manifest_path_for(run).read_bytes()) == before and notes.read_text() == "mine\n"
    page, events = tmp_path / "page.html", tmp_path / "events.jsonl"
    for _ in range(2):  # their own earlier outputs are replaced
        review_run(run, page)
        fuse_runs([run], events)
    assert b"<title>llm-extract review" in page.read_bytes()


def test_eval_out_naming_a_file_is_a_message(tmp_path: Path) -> None:
    existing = tmp_path / "r.jsonl"
    existing.write_text("keep\n")
    result = CliRunner().invoke(app, ["eval", "seeds", "--run", str(existing), "--out", str(existing)])
    assert result.exit_code == 2 and "is a file" in " ".join(result.output.split())
    assert existing.read_text() == "keep\n"


def test_a_jsonl_line_in_cp1252_is_decoded_and_noted(tmp_path: Path) -> None:
    from llm_extract.inputs.documents import iter_inputs

    source = tmp_path / "m.jsonl"
    utf8, cp1252 = '{"id":"u8","text":"Bogotá"}\n', '{"id":"cp","text":"Bogotá – Medellín"}\n'
    source.write_bytes(utf8.encode() + cp1252.encode("cp1252"))
    first, second = iter_inputs([source])
    assert first.text == "Bogotá" and first.notes == ()
    assert second.text == "Bogotá – Medellín" and second.notes == ("decoded as cp1252 (not UTF-8)",)


def test_a_run_line_that_is_json_null_is_skipped_with_its_number(tmp_path: Path) -> None:
    from llm_extract.runs.store import read_run

    run = tmp_path / "run.jsonl"
    run.write_text('{"doc_id": "a", "status": "ok", "incidents": []}\nnull\n')
    lines_read = read_run(run, "incidents")
    assert [r.doc_id for r in lines_read.records] == ["a"]
    assert [(p.line, "not a JSON object" in p.reason) for p in lines_read.problems] == [(2, True)]


def test_no_document_ok_exits_non_zero_even_when_all_are_invalid(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    with FakeOpenAI(script=["invalid"] * 6) as fake:
        result = CliRunner().invoke(app, ["extract", str(docs), "-o", str(tmp_path / "out.jsonl"), "--base-url",
                                          fake.base_url, "--model", "fake", "--max-reasks", "0"])  # fmt: skip
    assert result.exit_code == 1 and "no document ended ok" in result.output


def test_infinite_backoff_or_timeout_is_refused() -> None:
    from llm_extract.core.errors import ConfigError

    for setting in ("backoff_max", "backoff_initial", "request_timeout"):
        with pytest.raises(ConfigError, match="finite"):
            load_settings(**{setting: float("inf")})


def test_eval_out_on_an_unwritable_place_is_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_extract.api import evaluate_suite

    run = tmp_path / "run.jsonl"
    run.write_text('{"doc_id": "000_d4b2816009667b46", "status": "ok", "incidents": []}\n')

    def read_only(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(OutputError, match="Read-only file system"):
        evaluate_suite("seeds", run=run, out_dir=tmp_path / "ro" / "ev")


def test_a_multi_line_error_is_printed_line_by_line_as_text(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["extract", str(tmp_path), "-o", str(tmp_path / "o.jsonl"), "--timeout", "nan"])
    assert result.exit_code == 2
    assert "\\n" not in result.output, "newlines in a message are printed as lines, not as escapes"


def test_a_line_mixing_utf8_and_cp1252_keeps_both(tmp_path: Path) -> None:
    from llm_extract.inputs.documents import decode_with_notes, iter_inputs

    mixed = "Café bombing near ".encode() + "Bogotá.".encode("cp1252")
    text, notes = decode_with_notes(b"First line.\n" + mixed + b"\n")
    assert text == "First line.\nCafé bombing near Bogotá.\n"
    assert notes == ("decoded as UTF-8 with its invalid bytes as cp1252: line 2",)
    source = tmp_path / "m.jsonl"
    source.write_bytes(b'{"id": "mx", "text": "' + mixed + b'"}\n')
    (document,) = iter_inputs([source])
    assert document.text == "Café bombing near Bogotá." and document.notes == (notes[0].split(":")[0],)


def test_a_rerun_with_nothing_left_to_do_starts_no_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_extract import api

    docs = tmp_path / "docs"
    write_docs(docs, 2)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI() as fake:
        settings = settings_for(fake)
        extract_batch([docs], output, settings)
    opened: list[object] = []
    monkeypatch.setattr(api, "open_endpoint", lambda *args, **kwargs: opened.append(args) or pytest.fail("opened"))
    summary = extract_batch([docs], output, settings)  # the fake is gone: any call would fail
    assert opened == [] and summary.stats.resumed == 2 and summary.manifest["endpoint"]["base_url"] == fake.base_url
