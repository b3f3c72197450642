"""The muc4-incidents suite: MUC-4's answer keys mapped onto incident_v1 (evals/muc4-incidents/MAPPING.md).

The committed files are what build.py makes from the source; each mapping rule is checked on real documents of
the development split (the committed gold, and the key's own fills where the rule reads one); the suite loads
and a run that copies the gold's readings finds every gold value.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from llm_extract.evaluation.evaluate import gold_reading
from llm_extract.scoring.fields import reference_score_document, score
from llm_extract.scoring.suite import load_suite

SUITE_DIR = Path(__file__).parents[1] / "evals" / "muc4-incidents"


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("muc4_incidents_build", SUITE_DIR / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


BUILD = _build_module()
SUITE = load_suite("muc4-incidents")
GOLD_LINES = {
    line["doc_id"]: line for line in map(json.loads, (SUITE_DIR / "gold.jsonl").read_text().splitlines()) if line
}
INCIDENTS = {incident["id"]: incident for line in GOLD_LINES.values() for incident in line["incidents"]}
DOCS = {doc["id"]: doc for doc in map(json.loads, (SUITE_DIR / "docs.jsonl").read_text().splitlines())}


def incident(gold_id: str) -> dict[str, Any]:
    return INCIDENTS[gold_id]


def template(fills: dict[str, list[str]], number: int = 1, optional: bool = False) -> dict[str, Any]:
    """A key template as dev_full.jsonl has it: every slot '-' unless given."""
    slots = {slot: ["-"] for slot in (BUILD.DATE, BUILD.LOCATION, BUILD.TYPE, BUILD.STAGE, BUILD.INSTRUMENT_TYPE,
                                      BUILD.PERP_INDIVIDUAL, BUILD.PERP_ORGANIZATION, BUILD.PERP_CONFIDENCE,
                                      BUILD.PHYS_ID, BUILD.PHYS_TYPE, BUILD.HUM_NAME, BUILD.HUM_DESCRIPTION,
                                      BUILD.HUM_TYPE, BUILD.HUM_NUMBER, BUILD.HUM_EFFECT, BUILD.HUM_TOTAL)}  # fmt: skip
    return {"template_no": number, "optional": optional, "slots_raw": {**slots, **fills}}


# ---- the committed files -------------------------------------------------------------------------------------


@pytest.mark.skipif(not BUILD.DEFAULT_SOURCE.is_file(), reason="the MUC-4 source (shared/data/muc4) is not here")
def test_the_committed_suite_is_a_fresh_build(tmp_path: Path) -> None:
    assert BUILD.main(["--source", str(BUILD.DEFAULT_SOURCE), "--out", str(tmp_path)]) == 0
    for name in ("docs.jsonl", "gold.jsonl"):
        assert (tmp_path / name).read_bytes() == (SUITE_DIR / name).read_bytes(), f"{name}: rerun build.py"


def test_counts() -> None:
    assert len(DOCS) == len(GOLD_LINES) == 200
    assert len(INCIDENTS) == 178 and sum(i["optional"] for i in INCIDENTS.values()) == 29
    assert sum(len(line.get("dropped", [])) for line in GOLD_LINES.values()) == 13


# ---- documents ----------------------------------------------------------------------------------------------


def test_documents_keep_the_dateline_and_give_its_date() -> None:
    first = DOCS["TST1-MUC3-0001"]
    assert first["text"].lstrip().startswith("GUATEMALA CITY, 4 FEB 90 (ACAN-EFE) -- [TEXT] THE GUATEMALA ARMY")
    assert first["published"] == "1990-02-04"
    assert "published" not in DOCS["TST1-MUC3-0043"]  # 'CLANDESTINE, NO DATE (RADIO VENCEREMOS)'
    assert "published" not in DOCS["TST1-MUC3-0070"]  # 'BUENOS AIRES, 25 JAN (NA)': no year
    assert sum("published" in doc for doc in DOCS.values()) == 184


# ---- one test per mapping rule --------------------------------------------------------------------------------


def test_date_day_range_on_or_before_and_no_year() -> None:
    assert incident("TST1-MUC3-0001-1")["date"] == {"start": "1990-02-02", "end": None, "precision": "day"}
    # '31 MAR 90 - 01 APR 90': a night, so the day is fixed; within the range
    assert incident("TST1-MUC3-0100-6")["date"] == {
        "start": {"range": ["1990-03-31", "1990-04-01"]}, "end": ["1990-04-01", None], "precision": "day"
    }  # fmt: skip
    # '01 JAN 90 - 31 JAN 90': a calendar month ("killed in January")
    assert incident("TST1-MUC3-0018-1")["date"]["precision"] == "month"
    # '- 18 MAY 90': on or before; the text does not fix the day, so no precision is scored
    assert incident("TST1-MUC3-0011-1")["date"] == {"start": [None, {"range": [None, "1990-05-18"]}], "end": None}
    # '(09 DEC 89) / (- 09 DEC 89)': either reading
    assert incident("TST2-MUC4-0003-1")["date"]["start"] == ["1989-12-09", {"range": [None, "1989-12-09"]}, None]
    # '-': no date in the text
    assert incident("TST1-MUC3-0092-1")["date"] == {"start": None, "end": None, "precision": "unknown"}
    # '16 NOV 00': day and month without a year: not scored
    assert "date" not in incident("TST2-MUC4-0074-1")


def test_location_country_codes_levels_and_alternatives() -> None:
    # 'GUATEMALA: PETEN (DEPARTMENT): FLORES (CITY)'
    assert incident("TST1-MUC3-0001-6")["location"] == {"site": None, "town": "FLORES", "region": "PETEN",
                                                        "country": "GT"}  # fmt: skip
    # 'GUATEMALA: SANTO TOMAS (FARM)': the farm is the site (the target's names too); the town is unsaid
    location = incident("TST1-MUC3-0001-1")["location"]
    assert location["site"][0] == "SANTO TOMAS" and "PRESIDENTIAL FARM" in location["site"]
    assert "town" not in location and "region" not in location and location["country"] == "GT"
    # '(EL SALVADOR: SAN SALVADOR (CITY)) / (EL SALVADOR: SAN SALVADOR (DEPARTMENT))'
    location = incident("TST2-MUC4-0025-1")["location"]
    assert location["town"] == ["SAN SALVADOR", None] and location["region"] == ["SAN SALVADOR", None]
    # 'EL SALVADOR' only: no town in the text; a region is never required when the key names none
    assert incident("TST1-MUC3-0019-1")["location"] == {"site": None, "town": None, "country": "SV"}
    # 'HONDURAS / EL SALVADOR'
    assert incident("TST2-MUC4-0090-3")["location"]["country"] == ["HN", "SV"]
    # 'COLOMBIA: MEDELLIN (CITY): AMERICA (NEIGHBORHOOD)': the neighbourhood is accepted as the site
    location = incident("TST1-MUC3-0006-1")["location"]
    assert location["town"] == "MEDELLIN" and location["site"] == [None, "AMERICA"]
    # 'EL SALVADOR: USULUTAN (CITY / COUNTY / DEPARTMENT)': a town, accepted as the region too
    usulutan = next(i for i in INCIDENTS.values() if i["location"].get("town") == "USULUTAN")
    assert usulutan["location"]["region"] == [None, "USULUTAN"]
    assert BUILD.map_location("CHILE: COPIAPO (CITY) - TALCA (CITY)", [])["town"] == ["TALCA", "COPIAPO"]


def test_incident_type_to_sub_event_type() -> None:
    assert incident("TST1-MUC3-0040-1")["sub_event_type"] == "remote_explosive_landmine_ied"  # BOMBING, a bomb
    assert incident("TST2-MUC4-0055-3")["sub_event_type"] == "abduction_forced_disappearance"  # KIDNAPPING
    assert incident("TST1-MUC3-0019-1")["sub_event_type"] == "attack"  # ATTACK on civilians (the Jesuits)
    # ATTACK on a soldier (armed): a clash is defensible too
    assert incident("TST1-MUC3-0002-1")["sub_event_type"] == ["armed_clash", "attack"]
    assert incident("TST1-MUC3-0001-3")["sub_event_type"] == ["other", "attack"]  # ARSON of farm buildings
    assert incident("TST1-MUC3-0001-4")["sub_event_type"] == ["other", "attack"]  # ROBBERY (food stolen)
    # BOMBING with rockets, dynamite and a grenade launcher: each instrument's sub-event type
    assert incident("TST1-MUC3-0004-1")["sub_event_type"] == [
        "shelling_artillery_missile_attack", "remote_explosive_landmine_ied", "grenade"
    ]  # fmt: skip
    work_stoppage = template({BUILD.TYPE: ["FORCED WORK STOPPAGE"], BUILD.STAGE: ["ACCOMPLISHED"],
                              BUILD.DATE: ["02 FEB 90"], BUILD.LOCATION: ["EL SALVADOR"]})  # fmt: skip
    assert BUILD.map_template("X", work_stoppage, None)[0]["sub_event_type"] == "other"


def test_stage_accomplished_and_attempted_are_incidents_threatened_is_not() -> None:
    assert incident("TST1-MUC3-0004-1")["muc4"]["stage"] == "ATTEMPTED"
    assert incident("TST2-MUC4-0086-2")["muc4"]["stage"] == "ACCOMPLISHED / ATTEMPTED"
    # TST1-MUC3-0039: templates 2 and 3 are threatened; template 1 is an incident
    assert [i["id"] for i in GOLD_LINES["TST1-MUC3-0039"]["incidents"]] == ["TST1-MUC3-0039-1"]
    assert [d["template"] for d in GOLD_LINES["TST1-MUC3-0039"]["dropped"]] == [2, 3]


def test_a_threatened_only_document_has_no_gold_incident() -> None:
    line = GOLD_LINES["TST2-MUC4-0067"]  # its one template: a threatened forced work stoppage
    assert line["incidents"] == [] and line["dropped"][0]["reason"].startswith("threatened")
    threat = template({BUILD.TYPE: ["BOMBING"], BUILD.STAGE: ["THREATENED"], BUILD.DATE: ["02 FEB 90"],
                       BUILD.LOCATION: ["PERU"]})  # fmt: skip
    assert BUILD.map_template("X", threat, None)[0] is None
    assert SUITE.gold()["TST2-MUC4-0067"] == []


def test_instrument_to_weapon_type() -> None:
    assert incident("TST1-MUC3-0040-3")["weapons"] == [{"type": "vehicle_bomb"}]  # VEHICLE BOMB: "BUS BOMB"
    assert incident("TST2-MUC4-0076-1")["weapons"] == [{"type": ["incendiary", "explosive_device"]}]
    assert incident("TST1-MUC3-0004-1")["weapons"] == [  # rockets, dynamite, grenade rocket launchers
        {"type": "rocket"}, {"type": "explosive_device"}, {"type": ["grenade", "rocket"]}
    ]  # fmt: skip
    assert incident("TST1-MUC3-0001-1")["weapons"] == []  # '-': the text names no instrument
    assert "weapons" not in incident("TST2-MUC4-0055-3")  # '*': not applicable to a kidnapping
    guns = template({BUILD.TYPE: ["ATTACK"], BUILD.STAGE: ["ACCOMPLISHED"], BUILD.DATE: ["02 FEB 90"],
                     BUILD.LOCATION: ["PERU"], BUILD.INSTRUMENT_TYPE: ['GUN: "85-MM FIELD GUNS" / "FIELD GUNS"',
                                                                      'MACHINE GUN: "-"']})  # fmt: skip
    assert BUILD.map_template("X", guns, None)[0]["weapons"] == [{"type": "artillery"}, {"type": "firearms"}]


def test_perpetrators_attribution_and_claims() -> None:
    # one organisation and one individual: the individual's words are the organisation's aliases;
    # 'REPORTED AS FACT / CLAIMED OR ADMITTED': either, so claimed_by (one reading only) is not scored
    urng = incident("TST1-MUC3-0001-1")
    assert urng["perpetrators"] == [{"name": ["GUATEMALAN NATIONAL REVOLUTIONARY UNITY", "URNG", "GUERRILLA COLUMN",
                                              "GUERRILLAS"], "attribution": ["confirmed", "claimed"]}]  # fmt: skip
    assert "claimed_by" not in urng
    fmln = incident("TST1-MUC3-0035-1")  # CLAIMED OR ADMITTED
    assert fmln["perpetrators"][0]["attribution"] == "claimed"
    assert fmln["claimed_by"] == [["FARABUNDO MARTI NATIONAL LIBERATION FRONT", "FMLN"]]
    assert incident("TST1-MUC3-0044-1")["perpetrators"][0]["attribution"] == ["alleged", "suspected"]  # SUSPECTED..
    assert incident("TST1-MUC3-0073-6")["perpetrators"][0]["attribution"] == "suspected"  # POSSIBLE
    assert incident("TST1-MUC3-0011-1")["perpetrators"][0]["attribution"] == "confirmed"  # REPORTED AS FACT
    # two organisations 'SUSPECTED OR ACCUSED BY AUTHORITIES'; the four individuals accepted, not required
    two = incident("TST1-MUC3-0026-1")["perpetrators"]
    assert [p["attribution"] for p in two[:2]] == ["alleged", "alleged"] and "optional" not in two[0]
    assert len(two) == 6 and all(p["optional"] is True for p in two[2:])
    # no organisation: each individual is required, any attribution accepted but none required
    assert incident("TST1-MUC3-0018-1")["perpetrators"] == [
        {"name": ["SALVADORAN RIGHTIST SECTORS"], "attribution": BUILD.ANY_ATTRIBUTION, "optional": ["attribution"]},
        {"name": ["SOLDIERS"], "attribution": BUILD.ANY_ATTRIBUTION, "optional": ["attribution"]},
    ]


def test_targets_names_and_kinds() -> None:
    targets = incident("TST1-MUC3-0001-1")["targets"]
    assert targets == [
        {"name": ["CEREZO", "PRESIDENT"], "kind": "government"},  # GOVERNMENT OFFICIAL, named and described
        {"name": ["CIVILIAN"], "kind": "civilian"},
        {"name": ['"SANTO TOMAS" PRESIDENTIAL FARM', "PRESIDENTIAL FARM"], "kind": "government"},  # the farm
    ]
    # a description shared by two named peasants is their group: accepted, not required
    assert incident("TST2-MUC4-0036-5")["targets"][-1] == {"name": ["PEASANTS", "PEASANT"], "kind": BUILD.ANY_KIND,
                                                            "optional": True}  # fmt: skip
    kinds = {json.dumps(t["kind"]) for i in INCIDENTS.values() for t in i["targets"]}
    assert '"police"' in kinds and '"diplomatic"' in kinds and '["infrastructure", "media"]' in kinds


def test_casualties_from_effects_and_numbers() -> None:
    # the civilian's DEATH (1) and CEREZO's NO INJURY
    assert incident("TST1-MUC3-0001-1")["casualties"] == {"killed": {"min": 1, "max": [1, None]},
                                                          "injured": {"min": [0, None], "max": [0, None]}}  # fmt: skip
    # PLURAL: at least two
    assert incident("TST1-MUC3-0068-1")["casualties"]["killed"] == {
        "min": {"range": [2, None]}, "max": [None, {"range": [2, None]}]
    }  # fmt: skip
    # '67: "DEAD"' and '~1000: "WOUNDED"': about a thousand is 900-1100
    assert incident("TST1-MUC3-0040-3")["casualties"] == {
        "killed": {"min": 67, "max": [67, None]},
        "injured": {"min": {"range": [900, 1100]}, "max": [{"range": [900, 1100]}, None]},
    }
    # PLURAL passengers and crew, total 107: the total
    assert incident("TST1-MUC3-0040-1")["casualties"]["killed"] == {"min": 107, "max": [107, None]}
    # a kidnapping with no effect in the key: unknown
    assert incident("TST2-MUC4-0055-3")["casualties"] == {"killed": {"min": None, "max": None},
                                                          "injured": {"min": None, "max": None}}  # fmt: skip
    assert BUILD.read_number("~70") == BUILD.Interval(63, 77)


def test_optional_templates_and_optional_fills() -> None:
    assert incident("TST1-MUC3-0082-1")["optional"] is True  # '1 (OPTIONAL)'
    assert incident("TST1-MUC3-0001-1")["optional"] is False
    # '? "TERRORIST"': an optional individual perpetrator
    assert incident("TST2-MUC4-0046-1")["perpetrators"] == [
        {"name": ["TERRORIST"], "attribution": BUILD.ANY_ATTRIBUTION, "optional": True}
    ]
    fill = BUILD.parse_fill('? POSSIBLE / SUSPECTED OR ACCUSED BY AUTHORITIES: "FMLN"')
    assert fill.optional and fill.values == ("POSSIBLE", "SUSPECTED OR ACCUSED BY AUTHORITIES")
    assert fill.refs == ("FMLN",)


def test_role_main_for_news_either_for_older_or_undated() -> None:
    assert incident("TST1-MUC3-0001-1")["role"] == "main"  # two days before the dateline
    assert incident("TST1-MUC3-0083-1")["role"] == ["main", "background"]  # March 1980, reported in 1989
    assert incident("TST1-MUC3-0011-1")["role"] == ["main", "background"]  # only "on or before" the dateline


# ---- the suite ----------------------------------------------------------------------------------------------


def test_the_suite_loads_and_a_run_of_gold_readings_finds_everything() -> None:
    assert SUITE.schema == "incident_v1" and SUITE.profile == "fields" and SUITE.scoring is not None
    assert SUITE.scoring.key_fields == ("date.start",) and SUITE.gate.thresholds == {}
    gold = SUITE.gold()
    assert len(gold) == 200
    predicted = {doc_id: [gold_reading(g) for g in items] for doc_id, items in gold.items()}
    result = score(SUITE.scoring, gold, predicted)
    assert result.incidents.recall == 1.0 and result.incidents.precision == 1.0
    assert result.micro.recall == 1.0 and result.micro.fn == 0
    assert result.matched.recall == 1.0
    # gold elements that share an acceptable value are one element (the set comparison): a handful of readings
    # of two such elements count one of them as spurious
    assert result.micro.precision > 0.99


def test_the_fast_scorer_equals_the_reference_on_this_gold() -> None:
    """Optional elements, open ranges and date ranges (which the seed gold does not have) take the fast path's
    own readers and caches: every document's score equals the reference scorer's."""
    rng = random.Random(5)
    gold = SUITE.gold()
    assert SUITE.scoring is not None
    predicted: dict[str, list[dict[str, Any]]] = {}
    for doc_id, items in gold.items():
        readings = [gold_reading(g) for g in items if rng.random() > 0.2]
        for reading in readings:
            start = (reading.get("date") or {}).get("start")
            if start and rng.random() < 0.4:
                day = dt.date.fromisoformat(start) + dt.timedelta(days=rng.choice([-3, -1, 1, 2]))
                reading["date"]["start"] = day.isoformat()
            if rng.random() < 0.3:
                reading["targets"] = [t for t in reading["targets"] if rng.random() < 0.5]
        predicted[doc_id] = readings
    result = score(SUITE.scoring, gold, predicted)
    for document in result.documents:
        expected = reference_score_document(SUITE.scoring, document.doc_id, gold[document.doc_id],
                                            predicted[document.doc_id])  # fmt: skip
        assert document == expected, document.doc_id
    assert 0 < result.incidents.recall < 1
