"""Resolution: a country the article does not support is replaced from the record's place names, or nulled, and
the line says so."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.extraction.resolve import resolve_country, resolve_records
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.testing.fake_openai import FakeOpenAI
from tests.test_salvage import _incident

INCIDENT = load_schema("incident_v1")
BOGOTA = "BOGOTA, 4 FEB 90 -- A car bomb exploded outside a police station in Bogota, Colombia, killing two."


def _place(country: str | None, **places: str | None) -> dict[str, object]:
    return {"site": None, "town": None, "region": None, "country": country, "precision": "town"} | places


def test_a_country_the_article_contradicts_is_nulled() -> None:
    location = _place("SY", town="Lima")
    assert resolve_country(location, "LIMA, 3 MAR 89 -- A bomb went off at a bank in the Peruvian capital, Peru.") == (
        "country", None, "the article names PE but not this country"
    )  # fmt: skip


def test_an_article_that_names_no_country_cannot_contradict_the_model() -> None:
    """A dateline city and no country name: the model's code stays (without a gazetteer nothing can check it)."""
    assert resolve_country(_place("CO", town="Medellin"), "MEDELLIN, 4 FEB 90 -- Gunmen killed a judge.") is None


def test_the_record_s_own_place_names_win_over_the_model_s_code() -> None:
    assert resolve_country(_place("IQ", town="Bogota", region="Colombia"), BOGOTA)[:2] == ("country", "CO")
    assert resolve_country(_place(None, region="western Colombia"), BOGOTA)[:2] == ("country", "CO")


def test_a_supported_country_is_left_alone() -> None:
    assert resolve_country(_place("CO", town="Bogota"), BOGOTA) is None  # the article names Colombia
    assert resolve_country(_place("CO", region="Colombia"), BOGOTA) is None
    assert resolve_country(_place(None, town="Bogota"), BOGOTA) is None  # null stays null without a place name


def test_resolution_changes_the_records_in_place_and_lists_each_change() -> None:
    records = [_incident(location=_place("IQ", site="police station", town="Bogota")), _incident()]
    records[1]["location"] = _place("GT", site="Santo Tomas farm")
    before = copy.deepcopy(records)
    changes = resolve_records(records, BOGOTA, INCIDENT)
    assert [change.as_dict() for change in changes] == [
        {"path": "incidents[0].location.country", "given": "IQ", "stored": None,
         "why": "the article names CO but not this country"},
        {"path": "incidents[1].location.country", "given": "GT", "stored": None,
         "why": "the article names CO but not this country"},
    ]  # fmt: skip
    assert records[0]["location"]["country"] is None and before[0]["location"]["country"] == "IQ"


def test_the_stored_line_says_what_was_resolved_and_the_reference_is_not_resolved(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bogota.txt").write_text(BOGOTA)
    evidence = ["A car bomb exploded outside a police station in Bogota, Colombia, killing two."]
    incident = _incident(location=_place("SY", site="police station", town="Bogota"), evidence=evidence)
    for prompt, plan in (("incident_v1", {"attacks": ["car bomb"]}), ("plain_incident", {})):
        with FakeOpenAI(answer=json.dumps(plan | {"incidents": [incident]})) as fake:
            settings = load_settings(base_url=fake.base_url, model="fake", prompt_name=prompt)
            extract_batch([docs], tmp_path / f"{prompt}.jsonl", settings)
    line = json.loads((tmp_path / "incident_v1.jsonl").read_text())
    assert line["status"] == "ok" and line["incidents"][0]["location"]["country"] is None
    assert line["resolved"][0]["path"] == "incidents[0].location.country" and line["resolved"][0]["given"] == "SY"
    plain = json.loads((tmp_path / "plain_incident.jsonl").read_text())
    assert plain["incidents"][0]["location"]["country"] == "SY" and "resolved" not in plain
