"""The library a notebook calls: load_run, extract_text's line, and one embedded server per process."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import llm_extract
from llm_extract import api
from llm_extract.core.config import Settings, load_settings
from llm_extract.core.errors import LLMExtractError
from llm_extract.inputs.documents import iter_inputs
from llm_extract.providers.local_server import SharedServer
from llm_extract.providers.provider import Endpoint
from llm_extract.runs.runline import GroundingSpan, RunLine
from llm_extract.testing.fake_openai import FakeOpenAI

from .conftest import ROOT, SEEDS

SEED_RUN = ROOT / "evals" / "seeds" / "reference_run.jsonl"
TEXT = "Two drones targeted al-Asad airbase in western Iraq on Wednesday, a U.S. official said."


# ---- load_run ------------------------------------------------------------------------------------------------


def _copy_run(tmp_path: Path) -> Path:
    run = tmp_path / "run.jsonl"
    shutil.copyfile(SEED_RUN, run)
    shutil.copyfile(SEED_RUN.with_name("reference_run.manifest.json"), tmp_path / "run.manifest.json")
    return run


def test_load_run_gives_every_line_typed_with_its_records_and_annotations(tmp_path: Path) -> None:
    run = _copy_run(tmp_path)
    stored = [json.loads(raw) for raw in run.read_text().splitlines() if raw.strip()]
    lines = llm_extract.load_run(run)
    assert [line.doc_id for line in lines] == [entry["doc_id"] for entry in stored]
    assert all(isinstance(line, RunLine) for line in lines)
    for line, entry in zip(lines, stored, strict=True):
        assert line.status == entry["status"]
        assert line.records == (entry.get("incidents") or [])
        assert line.normalized == entry.get("normalized")
        assert line.to_dict() == entry  # the line as stored: nothing dropped or rewritten
    spans = [span for line in lines for span in line.grounding or []]
    assert spans and all(isinstance(span, GroundingSpan) for span in spans)


def test_load_run_reads_a_format_1_line_in_the_current_shape(tmp_path: Path) -> None:
    run = tmp_path / "old.jsonl"
    run.write_text(json.dumps({"doc_id": "a", "status": "ok", "incidents": [], "attempts": None}) + "\n")
    (line,) = llm_extract.load_run(run)
    assert (line.format, line.attempts, line.usage.total_tokens, line.records) == (1, 0, 0, [])


def test_a_bad_line_is_an_error_naming_the_file_and_line_unless_skipped(tmp_path: Path) -> None:
    run = _copy_run(tmp_path)
    good = run.read_text().splitlines()
    run.write_text("\n".join([good[0], '{"doc_id": "x"}', good[1], '{"doc_id": "y", "status": "ok", "incidents'])
                   + "\n")  # fmt: skip
    with pytest.raises(LLMExtractError) as refused:
        llm_extract.load_run(run)
    message = str(refused.value)
    assert f"{run}:2: no status" in message and f"{run}:4: not JSON" in message
    assert "skip_bad_lines=True" in message
    with pytest.warns(UserWarning) as warned:
        lines = llm_extract.load_run(run, skip_bad_lines=True)
    assert [line.doc_id for line in lines] == [json.loads(good[0])["doc_id"], json.loads(good[1])["doc_id"]]
    shown = [str(w.message) for w in warned]
    assert shown[0] == f"{run}:2: no status; line skipped"
    assert shown[1].startswith(f"{run}:4: not JSON") and shown[1].endswith("; line skipped") and len(shown) == 2


def test_load_run_refuses_a_missing_file_by_name(tmp_path: Path) -> None:
    with pytest.raises(LLMExtractError, match=f"no run at {tmp_path / 'nope.jsonl'}"):
        llm_extract.load_run(tmp_path / "nope.jsonl")


# ---- extract_text returns the stored line ------------------------------------------------------------------


@pytest.mark.cassette
def test_extract_text_returns_the_line_the_cli_stores(replay_settings: Settings, tmp_path: Path) -> None:
    """The recorded model answers the same request twice: the line extract_text returns has the records,
    grounding, normalisation and anchor of the line extract_batch stores for the same article."""
    (document,) = iter_inputs([SEEDS[0]])
    api.extract_batch([SEEDS[0]], tmp_path / "out.jsonl", replay_settings)
    (stored,) = llm_extract.load_run(tmp_path / "out.jsonl")
    line = llm_extract.extract_text(document.text, replay_settings, doc_id=document.id)
    assert stored.ok and stored.records and stored.grounding and stored.normalized
    for key in ("doc_id", "status", "incidents", "anchor", "grounding", "ungrounded", "normalized", "resume_key"):
        assert line.to_dict()[key] == stored.to_dict()[key], key
    assert line.origin == "<memory>"


def _fake_settings(fake: FakeOpenAI, **overrides: Any) -> Settings:
    return load_settings(base_url=fake.base_url, model="fake", preflight=False, **overrides)


def test_extract_text_anchors_relative_dates_on_the_publication_date() -> None:
    with FakeOpenAI() as fake:
        line = llm_extract.extract_text(TEXT, _fake_settings(fake), published="2023-10-26T08:00:00+00:00")
    assert line.ok and line.published == "2023-10-26"
    assert line.anchor is not None and (line.anchor["date"], line.anchor["source"]) == ("2023-10-26", "published")


def test_bad_input_is_the_failure_line_a_run_stores_and_no_model_call() -> None:
    with FakeOpenAI() as fake:
        not_a_date = llm_extract.extract_text(TEXT, _fake_settings(fake), published="last week")
        empty = llm_extract.extract_text(" \n", _fake_settings(fake), doc_id="blank")
    assert (not_a_date.status, not_a_date.error_kind, not_a_date.origin) == ("error", "input", "<memory>")
    assert not_a_date.error == "'published' is not an ISO date (YYYY-MM-DD...): 'last week'"
    assert (empty.doc_id, empty.status, empty.error) == ("blank", "error", "empty document (no text)")
    assert not fake.requests


def test_extract_text_works_where_an_event_loop_is_running() -> None:
    """A Jupyter cell runs inside an event loop, where asyncio.run refuses to start."""

    async def cell(settings: Settings) -> RunLine:
        return llm_extract.extract_text(TEXT, settings)

    with FakeOpenAI() as fake:
        line = asyncio.run(cell(_fake_settings(fake)))
    assert line.ok and len(fake.requests) == 1


# ---- one embedded server per process -----------------------------------------------------------------------


class FakeEmbedded:
    """Stands in for provider.open_endpoint on the embedded model: each start brings up a loopback fake server
    (after a pause, as loading weights takes), each stop shuts it."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.stops = 0
        self.servers: list[FakeOpenAI] = []

    @contextlib.contextmanager
    def open_endpoint(self, settings: Settings, progress: Callable[[str], None] | None = None) -> Iterator[Endpoint]:
        assert settings.uses_embedded_model
        self.starts.append({"local_ctx": settings.local_ctx})
        time.sleep(0.2)
        with FakeOpenAI() as fake:
            self.servers.append(fake)
            try:
                yield Endpoint(kind="embedded", base_url=fake.base_url, model="local")
            finally:
                self.stops += 1


@pytest.fixture
def embedded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[FakeEmbedded, list[Callable[[], None]]]]:
    """A fresh process-wide server holder, the embedded start faked, and atexit's registrations recorded."""
    fake, registered = FakeEmbedded(), []
    server: SharedServer[Endpoint] = SharedServer()
    monkeypatch.setattr(api, "open_endpoint", fake.open_endpoint)
    monkeypatch.setattr(api, "EMBEDDED_SERVER", server)
    monkeypatch.setattr(atexit, "register", registered.append)
    yield fake, registered
    server.close()


def _embedded_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(base_url=None, cache_dir=tmp_path / "cache", concurrency=1, **overrides)


def test_the_embedded_server_starts_once_for_every_call_and_closes_at_exit(
    embedded: tuple[FakeEmbedded, list[Callable[[], None]]], tmp_path: Path
) -> None:
    fake, registered = embedded
    settings = _embedded_settings(tmp_path)
    assert llm_extract.extract_text(TEXT, settings).ok
    assert llm_extract.extract_text(TEXT, settings, published="2023-10-26").ok
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text(TEXT)
    summary = llm_extract.extract_batch([tmp_path / "docs"], tmp_path / "out.jsonl", settings)
    assert summary.stats.statuses["ok"] == 1
    assert len(fake.starts) == 1 and fake.stops == 0, "one server for the three calls, still up"
    assert len(fake.servers[0].requests) == 3
    assert registered == [api.EMBEDDED_SERVER.close], "the close is registered once"
    registered[0]()  # what the interpreter does at exit
    assert fake.stops == 1


def test_threads_asking_at_once_start_one_server(
    embedded: tuple[FakeEmbedded, list[Callable[[], None]]], tmp_path: Path
) -> None:
    fake, _registered = embedded
    settings = _embedded_settings(tmp_path)
    lines: list[RunLine] = []
    threads = [
        threading.Thread(target=lambda: lines.append(llm_extract.extract_text(TEXT, settings))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(lines) == 4 and all(line.ok for line in lines)
    assert len(fake.starts) == 1


def test_other_server_settings_replace_the_server_and_a_dead_one_is_started_again(
    embedded: tuple[FakeEmbedded, list[Callable[[], None]]], tmp_path: Path
) -> None:
    fake, registered = embedded
    llm_extract.extract_text(TEXT, _embedded_settings(tmp_path))
    llm_extract.extract_text(TEXT, _embedded_settings(tmp_path, temperature=0.5))  # a request setting: reused
    assert (len(fake.starts), fake.stops) == (1, 0)
    llm_extract.extract_text(TEXT, _embedded_settings(tmp_path, local_ctx=4096))  # a server setting: replaced
    assert fake.starts[-1] == {"local_ctx": 4096} and (len(fake.starts), fake.stops) == (2, 1)
    fake.servers[-1].__exit__(None, None, None)  # the server dies under us
    assert llm_extract.extract_text(TEXT, _embedded_settings(tmp_path, local_ctx=4096)).ok
    assert (len(fake.starts), fake.stops) == (3, 2)
    assert len(registered) == 1
