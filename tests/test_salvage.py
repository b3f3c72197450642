"""Salvage: an answer still invalid after its re-asks keeps its valid, grounded part, and its line says what went."""

from __future__ import annotations

import json
from pathlib import Path

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.extraction.salvage import loc_of, path_of, salvage
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.testing.fake_openai import FakeOpenAI

MUC4 = load_schema("muc4_v1")
INCIDENT = load_schema("incident_v1")
TEXT = (
    "GUATEMALA CITY, 4 FEB 90 -- A guerrilla column attacked the Santo Tomas farm with rifles, the army said. "
    "A civilian who was passing by was killed. The attack was carried out by terrorists."
)  # the last sentence: muc4_v1's relevance model puts this text at 0.59, over its threshold (0.35 without it)


def _template(**slots: list[str]) -> dict[str, object]:
    return {"incident_type": "attack", "PerpInd": [], "PerpOrg": [], "Target": [], "Victim": [], "Weapon": []} | slots


def _muc4(answer: dict[str, object]) -> object:
    return salvage(json.dumps(answer), MUC4.response_model, MUC4, {"source_text": TEXT}, TEXT)


def test_fillers_the_text_does_not_contain_are_removed_and_the_template_kept() -> None:
    answer = {"templates": [_template(PerpInd=["guerrilla column"], Target=["santo tomas farm"],
                                      Weapon=["explosives", "rifles"], Victim=["civilian", "peasant"])]}  # fmt: skip
    kept = _muc4(answer)
    assert kept is not None
    template = kept.parsed.model_dump(mode="json")["templates"][0]
    assert template["Weapon"] == ["rifles"] and template["Victim"] == ["civilian"]
    assert template["PerpInd"] == ["guerrilla column"] and template["Target"] == ["santo tomas farm"]
    assert {(item.path, item.value) for item in kept.removed} == {
        ("templates[0].Weapon[0]", "explosives"),
        ("templates[0].Victim[1]", "peasant"),
    }
    assert all(item.reason == "not in the text" for item in kept.removed)


def test_a_valid_answer_is_returned_as_it_is() -> None:
    kept = _muc4({"templates": [_template(Weapon=["rifles"])]})
    assert kept is not None and kept.removed == ()


def test_an_answer_that_is_not_a_json_object_cannot_be_salvaged() -> None:
    for answer in ('{"templates": [', "[]", "", None):
        assert salvage(answer, MUC4.response_model, MUC4, {"source_text": TEXT}, TEXT) is None
    assert _muc4({"other": []}) is None  # the records list itself is missing: nothing to keep


def _incident(**changes: object) -> dict[str, object]:
    incident: dict[str, object] = {
        "role": "main", "sub_event_type": "attack", "weapons": [{"type": "firearms", "count": None, "text": "rifles"}],
        "date": {"start": "1990-02-02", "end": None, "precision": "day", "text": None},
        "location": {"site": "Santo Tomas farm", "town": None, "region": None, "country": "GT", "precision": "site"},
        "perpetrators": [{"name": "guerrilla column", "attribution": "alleged"}], "claimed_by": [],
        "targets": [{"name": "civilian", "kind": "civilian"}], "outcome": {"intercepted": None, "damage": None},
        "casualties": {"killed": {"min": 1, "max": 1, "text": "killed"}, "injured": {"min": None, "max": None,
                                                                                     "text": None}},
        "evidence": ["A civilian who was passing by was killed."],
    }  # fmt: skip
    return incident | changes


def _incidents(answer: dict[str, object]) -> object:
    return salvage(json.dumps(answer), INCIDENT.response_model, INCIDENT, {"source_text": TEXT}, TEXT)


def test_a_bad_value_is_nulled_and_an_unknown_key_deleted() -> None:
    location = {"site": "Santo Tomas farm", "town": None, "region": None, "country": "XX", "precision": "site"}
    answer = {"attacks": ["farm attacked"], "incidents": [_incident(location=location, mood="grim")]}
    kept = _incidents(answer)
    assert kept is not None
    incident = kept.parsed.model_dump(mode="json")["incidents"][0]
    assert incident["location"]["country"] is None and incident["location"]["site"] == "Santo Tomas farm"
    assert "mood" not in incident and incident["casualties"]["killed"]["min"] == 1
    assert {item.path for item in kept.removed} == {"incidents[0].mood", "incidents[0].location.country"}


def test_a_record_that_stays_wrong_goes_and_the_others_stay() -> None:
    answer = {"attacks": [], "incidents": [_incident(role="protagonist"), _incident()]}
    kept = _incidents(answer)
    assert kept is not None
    incidents = kept.parsed.model_dump(mode="json")["incidents"]
    assert len(incidents) == 1 and incidents[0]["role"] == "main"
    assert kept.removed[-1].path == "incidents[0]" and kept.removed[-1].value["role"] is None


def test_missing_fields_are_filled_null_or_empty_and_a_missing_plan_emptied() -> None:
    incident = _incident(outcome={"intercepted": None})  # "damage" left out: required but nullable
    del incident["claimed_by"]  # a required list left out
    kept = _incidents({"incidents": [incident]})
    assert kept is not None
    record = kept.parsed.model_dump(mode="json")["incidents"][0]
    assert record["outcome"]["damage"] is None and record["claimed_by"] == []
    assert record["perpetrators"] == [{"name": "guerrilla column", "attribution": "alleged"}]
    assert {item.path for item in kept.removed} == {"attacks", "incidents[0].outcome.damage", "incidents[0].claimed_by"}


def test_paths_and_locations_round_trip() -> None:
    for path in ("incidents[0].weapons[1].type", "templates[3]", "attacks"):
        assert path_of(loc_of(path)) == path


def test_an_invalid_answer_is_stored_ok_with_what_salvage_removed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "farm.txt").write_text(TEXT)
    answer = json.dumps({"templates": [_template(Target=["santo tomas farm"], Weapon=["explosives"])]})
    with FakeOpenAI(answer=answer) as fake:
        common = {"base_url": fake.base_url, "model": "fake", "schema_name": "muc4_v1", "prompt_name": "muc4_v3"}
        extract_batch([docs], tmp_path / "on.jsonl", load_settings(**common))
        assert len(fake.requests) == 3  # the answer and its two re-asks, all rejected
        extract_batch([docs], tmp_path / "off.jsonl", load_settings(**common, salvage=False))
    on = json.loads((tmp_path / "on.jsonl").read_text())
    assert on["status"] == "ok" and on["templates"][0]["Weapon"] == [] and on["error"] is None
    assert on["templates"][0]["Target"] == ["santo tomas farm"]
    assert on["salvaged"]["removed"] == [
        {"path": "templates[0].Weapon[0]", "value": "explosives", "reason": "not in the text"}
    ]
    assert "do not occur in the article" in on["salvaged"]["error"]
    off = json.loads((tmp_path / "off.jsonl").read_text())
    assert off["status"] == "invalid" and "salvaged" not in off


def test_a_list_that_stays_wrong_takes_its_record_without_looping() -> None:
    kept = _incidents({"attacks": [], "incidents": [_incident(evidence=None), _incident()]})  # evidence needs 1+
    assert kept is not None
    assert len(kept.parsed.model_dump(mode="json")["incidents"]) == 1
    assert kept.removed[-1].path == "incidents[0]"


def test_an_answer_left_with_none_of_its_records_stays_invalid() -> None:
    """Salvaging every record away would store "ok, no incident": a claim the model never made."""
    assert _incidents({"attacks": [], "incidents": [_incident(role="protagonist")]}) is None
    assert _incidents({"attacks": [], "incidents": []}) is not None  # a valid "none" stays one


def test_an_answer_cut_off_keeps_its_complete_records() -> None:
    whole = json.dumps({"templates": [_template(Target=["santo tomas farm"]), _template(Weapon=["rifles"])]})
    kept = salvage(whole[: whole.index('"rifles"') + 4], MUC4.response_model, MUC4, {"source_text": TEXT}, TEXT)
    assert kept is not None
    templates = kept.parsed.model_dump(mode="json")["templates"]
    assert templates[0]["Target"] == ["santo tomas farm"]
    assert all(filler in TEXT.lower() for t in templates for role in ("Target", "Weapon") for filler in t[role])
    assert kept.removed[0].reason.startswith("the answer was cut off")
