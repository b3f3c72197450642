"""Resolution: a country the article does not support is replaced from the record's place, the dateline or the
article's one country, or nulled, and the line says so."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.extraction.normalize.dates import Anchor
from llm_extract.extraction.resolve import (
    ArticleCountries,
    article_countries,
    as_written,
    resolve_country,
    resolve_date,
    resolve_records,
)
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.testing.fake_openai import FakeOpenAI
from tests.test_salvage import _incident

INCIDENT = load_schema("incident_v1")
BOGOTA = "BOGOTA, 4 FEB 90 -- A car bomb exploded outside a police station in Bogota, Colombia, killing two."


def _place(country: str | None, **places: str | None) -> dict[str, object]:
    return {"site": None, "town": None, "region": None, "country": country, "precision": "town"} | places


def test_a_country_the_article_contradicts_gives_way_to_the_record_s_place() -> None:
    location = _place("SY", town="Lima")
    assert resolve_country(location, "LIMA, 3 MAR 89 -- A bomb went off at a bank in the Peruvian capital, Peru.") == (
        "country", "PE", "the record's place is in this country, which the article mentions"
    )  # fmt: skip


def test_a_code_the_article_gives_no_word_of_becomes_the_dateline_s_country() -> None:
    """No country named, but the dateline's town is one the gazetteer knows: the article is from Colombia."""
    text = "MEDELLIN, 4 FEB 90 -- Gunmen killed a judge."
    assert article_countries(text) == ArticleCountries(mentioned=(), dateline="CO")
    assert resolve_country(_place("CO", town="Medellin"), text) is None
    assert resolve_country(_place("SY", site="a courthouse"), text) == (
        "country", "CO", "the dateline's place is in this country"
    )  # fmt: skip
    assert resolve_country(_place("SY", site="a courthouse"), "Gunmen killed a judge.") == (
        "country", None, "the article gives no word of any country"
    )  # fmt: skip


def test_the_people_s_adjective_and_a_parenthesised_dateline_country_count_as_mentions() -> None:
    text = "MANAGUA (NICARAGUA), 27 NOV 89 -- Salvadoran troops shelled a village."
    assert article_countries(text) == ArticleCountries(mentioned=("NI", "SV"), dateline="NI")
    assert resolve_country(_place("SV", site="a village"), text) is None
    assert resolve_country(_place(None, site="a village"), text) == (
        "country", "NI", "the dateline's place is in this country"
    )  # fmt: skip


def test_a_town_the_article_writes_places_the_record_even_in_a_country_it_does_not_name() -> None:
    text = "MANAGUA (NICARAGUA), 27 NOV 89 -- A car bomb exploded near a police station in Bogota."
    assert resolve_country(_place("NI", town="Bogota"), text) == (
        "country", "CO", "the article's place Bogotá is in this country"
    )  # fmt: skip
    assert resolve_country(_place("NI", town="Medellin"), text) is None, "a town the article does not write"


def test_the_record_s_own_place_names_win_over_the_model_s_code() -> None:
    assert resolve_country(_place("IQ", town="Bogota", region="Colombia"), BOGOTA)[:2] == ("country", "CO")
    assert resolve_country(_place(None, region="western Colombia"), BOGOTA)[:2] == ("country", "CO")
    assert resolve_country(_place(None, region="western Iraq"), BOGOTA)[:2] == ("country", "CO"), (
        "a country the article does not name is not taken from the record's words"
    )


def test_a_supported_country_is_left_alone() -> None:
    assert resolve_country(_place("CO", town="Bogota"), BOGOTA) is None  # the article names Colombia
    assert resolve_country(_place("CO", region="Colombia"), BOGOTA) is None


def test_resolution_changes_the_records_in_place_and_lists_each_change() -> None:
    records = [_incident(location=_place("IQ", site="police station", town="Bogota")), _incident()]
    records[1]["location"] = _place("GT", site="Santo Tomas farm")
    before = copy.deepcopy(records)
    changes = resolve_records(records, BOGOTA, INCIDENT)
    assert [change.as_dict() for change in changes if change.path.endswith(".country")] == [
        {"path": "incidents[0].location.country", "given": "IQ", "stored": "CO",
         "why": "the record's place is in this country, which the article mentions"},
        {"path": "incidents[1].location.country", "given": "GT", "stored": "CO",
         "why": "the dateline's place is in this country"},
    ]  # fmt: skip
    assert records[0]["location"]["country"] == "CO" and before[0]["location"]["country"] == "IQ"


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
    assert line["status"] == "ok" and line["incidents"][0]["location"]["country"] == "CO"
    assert line["resolved"][0]["path"] == "incidents[0].location.country" and line["resolved"][0]["given"] == "SY"
    plain = json.loads((tmp_path / "plain_incident.jsonl").read_text())
    assert plain["incidents"][0]["location"]["country"] == "SY" and "resolved" not in plain


ASAD = "In western Iraq, two drones targeted the al-Asad Airbase. Kataib Hezbollah said it attacked U.S. airbases."


def test_a_name_is_cut_to_the_words_the_article_writes_or_removed() -> None:
    assert as_written("al-Asad Airbase, Iraq", ASAD) == "al-Asad Airbase", "the qualifier after a comma goes"
    assert as_written("the al-Asad Airbase in Anbar", ASAD) == "the al-Asad Airbase"
    assert as_written("U.S. airbase", ASAD) == "U.S. airbase", "the article writes its plural"
    assert as_written("Kataib Hezbollah", ASAD) == "Kataib Hezbollah"
    assert as_written("Balad airbase", ASAD) is None and as_written("unknown", ASAD) is None


def test_verification_nulls_a_place_and_drops_an_actor_the_article_does_not_write() -> None:
    record = _incident(location=_place("IQ", site="al-Asad Airbase, Iraq", town="unknown"))
    record["perpetrators"] = [{"name": "Kataib Hezbollah", "attribution": "claimed"},
                              {"name": "Islamic State", "attribution": "alleged"}]  # fmt: skip
    record["claimed_by"] = ["Kataib Hezbollah", "Hamas"]
    changes = {change.path: change for change in resolve_records([record], ASAD, INCIDENT)}
    assert record["location"]["site"] == "al-Asad Airbase" and record["location"]["town"] is None
    assert changes["incidents[0].location.town"].why == "not in the article"
    assert [p["name"] for p in record["perpetrators"]] == ["Kataib Hezbollah"]
    assert record["claimed_by"] == ["Kataib Hezbollah"]
    assert changes["incidents[0].claimed_by"].given == ["Kataib Hezbollah", "Hamas"]
    # The claims check (llm_extract.checks) runs before the names are verified: Hamas, named nowhere, claims nothing.
    assert changes["incidents[0].claimed_by"].why == "no sentence that names 'Hamas' says it claimed the attack"
    assert record["location"]["country"] == "IQ", "the country is resolved from the words before they are cut"


def _date(start: str | None, text: str | None, precision: str = "day", end: str | None = None) -> dict[str, object]:
    return {"start": start, "end": end, "precision": precision, "text": text}


MAY_26 = Anchor(dt.date(1989, 5, 26), "published")


def test_the_date_words_against_the_anchor_replace_the_model_s_date() -> None:
    assert resolve_date(_date("1830-05-25", "THURSDAY"), "text", MAY_26) == [
        ("start", "1989-05-25", "the date words 'THURSDAY' give this (relative to the published date 1989-05-26)")
    ]
    assert resolve_date(_date("1989-05-25", "THURSDAY"), "text", MAY_26) == [], "a right date stays"
    changes = dict((key, value) for key, value, _ in resolve_date(_date("1989-05-02", "last month"), "", MAY_26))
    assert changes == {"start": "1989-04-01", "end": "1989-04-30", "precision": "month"}


def test_a_start_the_article_cannot_support_is_nulled_only_with_an_anchor() -> None:
    assert resolve_date(_date("1975-07-02", None), "no year here", MAY_26) == [
        ("start", None, "the article gives no year 1975, nor does its published date 1989-05-26")
    ]
    assert resolve_date(_date("1989-06-02", "BROAD DAYLIGHT"), "", MAY_26)[0][:2] == ("start", None), "after it"
    assert resolve_date(_date("1985-03-01", None), "the 1985 massacre", MAY_26) == [], "a year the article writes"
    assert resolve_date(_date("1988-12-01", None), "", MAY_26) == [], "the year before the anchor's"
    assert resolve_date(_date("2019-07-02", None), "no year here", None) == [], "no anchor: nothing to judge by"


def test_no_news_date_survives_a_year_before_1900_after_today_or_words_after_the_anchor() -> None:
    assert resolve_date(_date("0640-01-01", "BROAD DAYLIGHT"), "", None) == [
        ("start", None, "no news reports an incident in the year 640")
    ]
    assert resolve_date(_date("1989-05-02", "at 2030", precision="year"), "", MAY_26) == [], (
        "'at 2030' (a time) reads as the year 2030, after the anchor: not taken, and the model's date stays"
    )
