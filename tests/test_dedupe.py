"""Repeated records: a record of one answer that tells the same incident as an earlier one is dropped, and kept aside
on the line (schema SAME_RECORD); the plain reference keeps every record."""

from __future__ import annotations

import json
from pathlib import Path

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.testing.fake_openai import FakeOpenAI
from tests.test_salvage import _incident, _template

MUC4 = load_schema("muc4_v1")
INCIDENT = load_schema("incident_v1")


def test_templates_of_one_type_sharing_a_filler_are_one_incident() -> None:
    first = _template(incident_type="bombing", Target=["Santo Tomas farm"], Weapon=["dynamite"])
    repeat = _template(incident_type="bombing", Target=["santo tomas farm"], Victim=["a civilian"])
    other_type = _template(incident_type="kidnapping", Target=["Santo Tomas farm"])
    unrelated = _template(incident_type="bombing", Target=["the embassy"])
    kept, repeats = MUC4.deduplicate([first, repeat, other_type, unrelated])
    assert kept == [first, other_type, unrelated]
    assert repeats == [{"index": 1, "same_as": 0, "record": repeat}]
    empty = _template()
    assert MUC4.deduplicate([empty, dict(empty)])[0] == [empty]  # two bare templates of one type: one


def test_incidents_are_one_only_when_type_date_place_actors_and_figures_agree() -> None:
    first = _incident()
    told_again = _incident(evidence=["A guerrilla column attacked the Santo Tomas farm with rifles, the army said."])
    elsewhere = _incident(location={**first["location"], "site": "La Eminencia farm"})  # type: ignore[dict-item]
    kept, repeats = INCIDENT.deduplicate([first, told_again, elsewhere])
    assert kept == [first, elsewhere] and [r["index"] for r in repeats] == [1]
    assert INCIDENT.same_record(first, _incident(location={**first["location"], "site": "SANTO TOMAS  farm"}))  # type: ignore[dict-item, misc]


def test_the_line_keeps_the_dropped_repeat_and_the_reference_keeps_both(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "farm.txt").write_text("A bomb destroyed the Santo Tomas farm. The farm was bombed, the army said.")
    twice = _template(incident_type="bombing", Target=["Santo Tomas farm"])
    with FakeOpenAI(answer=json.dumps({"templates": [twice, twice]})) as fake:
        for prompt in ("muc4_v3", "plain_muc4"):
            settings = load_settings(base_url=fake.base_url, model="fake", schema_name="muc4_v1", prompt_name=prompt)
            extract_batch([docs], tmp_path / f"{prompt}.jsonl", settings)
    line = json.loads((tmp_path / "muc4_v3.jsonl").read_text())
    assert line["status"] == "ok" and line["templates"] == [twice]
    assert line["duplicates"] == [{"index": 1, "same_as": 0, "record": twice}]
    plain = json.loads((tmp_path / "plain_muc4.jsonl").read_text())
    assert plain["templates"] == [twice, twice] and "duplicates" not in plain
