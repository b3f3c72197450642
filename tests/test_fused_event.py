"""The typed fused event: its stored line keeps the keys, their order and the bytes `fuse` has always written, and
a stored line reads back to the same event."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from llm_extract.api import fuse_runs
from llm_extract.events.event import Conflict, ConflictValue, EventSource, FusedEvent, Link
from llm_extract.events.fusion import fuse, source_incident
from tests.test_fusion import SITES, incident, line, reports_of

ROOT = Path(__file__).resolve().parents[1]
SEED_RUN = ROOT / "evals" / "seeds" / "reference_run.jsonl"
EVENT_KEYS = ["event_id", "record", "support", "conflicts", "articles", "sources", "links", "weakest_merge",
              "borderline"]  # fmt: skip


def test_a_line_has_the_keys_in_the_order_fuse_writes_them() -> None:
    fusion = fuse(reports_of(
        line("a", incident(site="al-Asad airbase", injured=(1, None, "minor injuries")), published="2023-10-18"),
        line("b", incident(site="al-Asad airbase", injured=(0, 0, "no injuries"))),
    ))  # fmt: skip
    (event,) = fusion.events
    stored = json.loads(event.to_json())
    assert list(stored) == EVENT_KEYS
    assert list(stored["sources"][0]) == ["report", "doc_id", "index", "origin", "published", "url", "source",
                                          "role", "evidence"]  # fmt: skip
    assert stored["sources"][0]["published"] == "2023-10-18"
    (conflict,) = stored["conflicts"]
    assert list(conflict) == ["field", "reported", "rule", "values"]
    assert [list(value) for value in conflict["values"]] == [["value", "sources", "words"]] * 2
    assert list(stored["links"][0]) == ["reports", "score", "evidence"]
    assert event.to_json() == json.dumps(stored, ensure_ascii=False), "json.dumps of the line, as before"


def test_words_are_written_only_when_there_are_some() -> None:
    assert ConflictValue(["x"], ["a#0"]).to_dict() == {"value": ["x"], "sources": ["a#0"]}
    assert ConflictValue(["x"], ["a#0"], []).to_dict() == {"value": ["x"], "sources": ["a#0"]}
    assert ConflictValue(1, ["a#0"], ["one"]).to_dict() == {"value": 1, "sources": ["a#0"], "words": ["one"]}


def test_a_source_without_meta_is_its_id_article_and_index() -> None:
    (event,) = fuse([source_incident("a#0", "a", 0, incident(site="al-Asad airbase"))]).events
    assert event.to_dict()["sources"] == [{"report": "a#0", "doc_id": "a", "index": 0}]
    assert event.links == [] and event.weakest_merge is None and event.borderline is False


def test_the_seed_runs_events_are_written_as_their_lines_and_read_back(tmp_path: Path) -> None:
    output = tmp_path / "events.jsonl"
    summary = fuse_runs([SEED_RUN], output)
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines == [event.to_json() for event in summary.fusion.events]
    for text, event in zip(lines, summary.fusion.events, strict=True):
        again = FusedEvent.from_json(text)
        assert again == event and again.to_json() == text
    assert any(event.conflicts for event in summary.fusion.events), "the seed run must have a conflict to mean much"


def test_many_events_read_back_byte_for_byte() -> None:
    rng = random.Random(3)
    reports = [
        source_incident(f"d{rng.randrange(60)}#{n}", f"d{rng.randrange(60)}", n,
                        incident(site=rng.choice(SITES), start=f"2023-10-{rng.randint(1, 6):02d}",
                                 injured=rng.choice([(0, 0, "none hurt"), (1, None, "some hurt"), (None, None, None)])))
        for n in range(150)
    ]  # fmt: skip
    events = fuse(reports).events
    assert any(len(event.sources) > 1 for event in events)
    for event in events:
        assert FusedEvent.from_json(event.to_json()).to_json() == event.to_json()
        assert event.reports == [source.report for source in event.sources]


def test_the_parts_are_frozen() -> None:
    event = FusedEvent("ev-1", {}, {}, [Conflict("date", None, "rule", [])], ["a"], [EventSource("a#0", "a", 0)],
                       [Link(["a#0", "b#0"], 4.0, {"date": 3.0})])  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.borderline = True  # type: ignore[misc]
    assert event.conflict("date") is event.conflicts[0] and event.conflict("site") is None
