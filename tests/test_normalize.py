"""Normalisation rules, each on phrases taken from the seed articles and MUC-4 development texts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from llm_extract.extraction.normalize import (
    Anchor,
    find_dateline,
    normalise_casualties,
    normalise_country,
    resolve_date,
)
from llm_extract.extraction.normalize.casualties import phrase_range
from llm_extract.extraction.normalize.countries import COMMON_NAMES, countries_named, country_code

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "evals" / "seeds" / "docs"
MUC4 = {r["id"]: r["text"] for r in map(json.loads, (ROOT / "evals" / "muc4" / "docs.jsonl").open())}


def seed(name: str) -> str:
    return next(SEEDS.glob(f"{name}_*.txt")).read_text()


def anchor(day: str) -> Anchor:
    return Anchor(dt.date.fromisoformat(day), "published")


# ---- dates --------------------------------------------------------------------------------


def test_dateline_is_found_in_the_first_lines() -> None:
    found = find_dateline(seed("002"))  # "by | Oct 18, 2023" under the headline
    assert found is not None and found.date == dt.date(2023, 10, 18) and found.source == "dateline"
    assert seed("002")[found.start : found.end] == "Oct 18, 2023"
    # The raw MUC-4 message header: place, day, month, two-digit year.
    muc = find_dateline("SAN SALVADOR, 12 JAN 90 (RADIO VENCEREMOS) -- [TEXT] LAST NIGHT ...")
    assert muc is not None and muc.date == dt.date(1990, 1, 12)


@pytest.mark.parametrize("name", ["000", "001", "003", "004"])
def test_articles_without_a_dateline_have_no_anchor(name: str) -> None:
    assert find_dateline(seed(name)) is None


@pytest.mark.parametrize(
    ("words", "published", "start", "end", "precision"),
    [
        ("On Wednesday (Oct 18)", "2023-10-19", "2023-10-18", "2023-10-18", "day"),  # seed 003
        ("on Wednesday", "2023-10-18", "2023-10-18", "2023-10-18", "day"),  # seed 001, published that Wednesday
        ("on Saturday evening", "2024-01-21", "2024-01-20", "2024-01-20", "day"),  # seed 004
        ("on October 7", "2023-10-18", "2023-10-07", "2023-10-07", "day"),  # seed 000, Hamas attack
        ("last night", "1990-01-12", "1990-01-11", "1990-01-11", "day"),  # MUC-4 TST1-MUC3-0002
        ("on 3 february", "1990-01-12", "1989-02-03", "1989-02-03", "day"),  # MUC-4 TST1-MUC3-0001: the past
        ("last week", "2023-10-18", "2023-10-09", "2023-10-15", "week"),
        ("two days ago", "2023-10-18", "2023-10-16", "2023-10-16", "day"),
        ("last month", "2023-10-18", "2023-09-01", "2023-09-30", "month"),
        ("last Wednesday", "2023-10-18", "2023-10-11", "2023-10-11", "day"),  # not the day of publication
    ],
)
def test_relative_dates_resolve_against_the_publication_date(
    words: str, published: str, start: str, end: str, precision: str
) -> None:
    result = resolve_date(words, anchor(published))
    assert (result["start"], result["end"], result["precision"], result["status"]) == (
        start,
        end,
        precision,
        "resolved",
    )
    assert result["text"] == words and result["anchor"]["date"] == published


@pytest.mark.parametrize(
    ("words", "start", "end", "precision"),
    [("earlier this month", "2023-10-01", "2023-10-18", "month"), ("this month", "2023-10-01", "2023-10-18", "month"),
     ("earlier this week", "2023-10-16", "2023-10-18", "week"), ("earlier this year", "2023-01-01", "2023-10-18",
     "year")],
)  # fmt: skip
def test_a_relative_period_ends_at_the_publication_date(words: str, start: str, end: str, precision: str) -> None:
    result = resolve_date(words, anchor("2023-10-18"))
    assert (result["start"], result["end"], result["precision"]) == (start, end, precision)
    assert resolve_date("last month", anchor("2023-10-18"))["end"] == "2023-09-30", "a past period stays whole"


@pytest.mark.parametrize("words", ["On Wednesday (Oct 18)", "on Saturday evening", "last night", "two days ago"])
def test_without_an_anchor_a_relative_date_stays_unresolved_and_says_why(words: str) -> None:
    result = resolve_date(words, None)
    assert result["status"] == "unresolved" and result["start"] is None and result["precision"] == "unknown"
    assert "no publication date" in result["reason"]


@pytest.mark.parametrize(
    ("words", "start", "end", "precision"),
    [("on October 18, 2023", "2023-10-18", "2023-10-18", "day"), ("in 2020", "2020-01-01", "2020-12-31", "year"),
     ("on 25 august 1989", "1989-08-25", "1989-08-25", "day")],
)  # fmt: skip
def test_absolute_dates_need_no_anchor(words: str, start: str, end: str, precision: str) -> None:
    result = resolve_date(words, None)
    assert (result["start"], result["end"], result["precision"], result["status"]) == (
        start,
        end,
        precision,
        "resolved",
    )


def test_words_without_a_date_are_unresolved() -> None:
    assert resolve_date("on the same day as the drone attacks", anchor("2023-10-18"))["status"] == "unresolved"
    assert resolve_date(None, anchor("2023-10-18"))["reason"] == "no date words in the record"


# ---- countries ----------------------------------------------------------------------------


def test_country_code_from_the_model_is_checked_against_the_place_names() -> None:
    assert normalise_country({"country": "IQ", "region": "western Iraq"}) == {
        "code": "IQ", "name": "Iraq", "source": "model", "status": "resolved", "named_in_places": ["IQ"],
        "conflict": False,
    }  # fmt: skip
    clash = normalise_country({"country": "IQ", "site": None, "region": "northern Syria"})
    assert clash["code"] == "IQ" and clash["conflict"] and clash["named_in_places"] == ["SY"]


@pytest.mark.parametrize(
    ("location", "code"),
    [({"country": None, "region": "northern Syria"}, "SY"), ({"country": None, "town": "san salvador, el salvador"},
     "SV"), ({"country": "Iraq"}, "IQ"), ({"country": None, "region": "southern Israel"}, "IL"),
     ({"country": None, "region": "Gaza Strip, Palestine"}, "PS"), ({"country": "iq"}, "IQ")],
)  # fmt: skip
def test_country_names_become_iso_alpha_2(location: dict, code: str) -> None:
    assert normalise_country(location)["code"] == code


@pytest.mark.parametrize(
    ("name", "code"),
    [("Democratic Republic of the Congo", "CD"), ("Republic of the Congo", "CG"), ("Russia", "RU"), ("Turkey", "TR"),
     ("UK", "GB"), ("U.S.", "US"), ("Gaza", "PS"), ("Kosovo", "XK"), ("Burma", "MM"), ("Ivory Coast", "CI"),
     ("IRQ", "IQ"), ("sv", "SV")],
)  # fmt: skip
def test_common_country_names_are_read_in_the_field_and_in_place_names(name: str, code: str) -> None:
    result = normalise_country({"country": name})
    assert (result["code"], result["source"], result["status"]) == (code, "model", "resolved")
    if len(name) > 3:  # codes are read in the country field only, never in running text
        assert countries_named(f"an attack in {name} on Monday") == [code]
        assert normalise_country({"country": None, "region": f"eastern {name}"})["code"] == code


def test_every_common_name_is_one_coco_knows() -> None:
    assert all(country_code(name) for name in COMMON_NAMES)
    assert normalise_country({"country": "XK"})["name"] == "Kosovo", "ISO has no Kosovo: coco's name"
    assert country_code("Atlantis") is None and country_code("Korea") == "KR"  # coco reads a field loosely


def test_place_names_keep_to_whole_unambiguous_country_names() -> None:
    assert countries_named("let us go; the US troops") == [], "'US' is a pronoun too: only U.S. or USA"
    # seed 003: "a base in western Iraq housing U.S. troops" is in Iraq; the abbreviation is an adjective there
    assert countries_named("a base in western Iraq housing U.S. troops, UK-led forces") == ["IQ"]
    assert countries_named("talks in the U.S. and the UK.") == ["US", "GB"]
    assert countries_named("troops from Korea and the Congo") == [], "two countries share each name"
    assert countries_named("Santa Lucia, Sierra Maestra, Turkeyville") == [], "coco's loose regexes are not used"
    assert countries_named("the Democratic Republic of the Congo and the U.S.") == ["CD", "US"]


def test_codes_are_not_read_inside_words_and_unknown_places_stay_unresolved() -> None:
    assert normalise_country({"country": None, "town": "Kirkuk", "site": "IN the base"})["status"] == "unresolved"


# ---- casualties ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "low", "high", "rule"),
    [
        ("killed at least 1,400 people", 1400, None, "at_least"),  # seed 000
        ("minor injuries among coalition forces", 1, None, "some"),  # seed 000
        ("were slightly injured", 1, None, "some"),  # seed 001
        ("an Israeli airstrike killed 500 people", 500, 500, "exact"),  # seed 002
        ("No damage or injuries have been reported", 0, 0, "none"),  # seed 003
        ("No injuries were reported in either incident", 0, 0, "none"),  # seed 003
        ("an undisclosed number of U.S. personnel", 1, None, "some"),  # seed 004
        ("at least one Iraqi service member was injured", 1, None, "at_least"),  # seed 004
        ("at least six persons were killed", 6, None, "at_least"),  # MUC-4 TST2-MUC4-0075
        ("hundreds of people wounded", 200, 999, "vague"),  # MUC-4 TST1-MUC3-0034
        ("more than 20 people", 21, None, "at_least"),
        ("between 10 and 15 people", 10, 15, "between"),
        ("two dozen soldiers", 24, 24, "exact"),
        ("three soldiers", 3, 3, "exact"),
        ("none", 0, 0, "none"),
        ("several hundred", 300, 999, "scaled"),  # not several (3-9)
        ("several hundred people were wounded", 300, 999, "scaled"),
        ("a few thousand", 2000, 5999, "scaled"),
        ("several dozen", 36, 119, "scaled"),
        ("two soldiers and a civilian", 3, 3, "sum"),  # not the first group's 2
        ("two policemen, a soldier and three civilians were killed", 6, 6, "sum"),
        ("a soldier and a policeman", 2, 2, "sum"),
        ("three killed and five wounded", 3, 3, "exact"),  # two figures: the first is this field's
    ],
)
def test_casualty_phrases_become_ranges(words: str, low: int | None, high: int | None, rule: str) -> None:
    result = phrase_range(words)
    assert (result["min"], result["max"], result["rule"], result["status"]) == (low, high, rule, "resolved")


def test_real_phrases_occur_in_their_texts() -> None:
    """The phrases above are the articles' own words (so the rules are tested on real sentences)."""
    assert "killed at least 1,400 people" in seed("000") and "minor injuries among coalition forces" in seed("000")
    assert "at least one Iraqi service member was injured" in seed("004")
    assert "an undisclosed number of U.S. personnel" in seed("004")
    assert "at least six persons were killed" in MUC4["TST2-MUC4-0075"]
    assert "hundreds of people wounded" in MUC4["TST1-MUC3-0034"]
    assert "last night" in MUC4["TST1-MUC3-0002"] and "on 3 february" in MUC4["TST1-MUC3-0001"]


def test_unknown_stays_unknown_and_disagreement_with_the_model_is_reported() -> None:
    assert phrase_range(None)["status"] == "unresolved" and phrase_range("the past 24 hours")["rule"] == "exact"
    assert phrase_range("reported by the ministry")["min"] is None
    result = normalise_casualties({"min": None, "max": None, "text": "no injuries"})
    assert result["min"] == 0 and result["agrees"] is False and result["model"] == {"min": None, "max": None}
    assert normalise_casualties({"min": 1, "max": None, "text": "minor injuries"})["agrees"] is True
