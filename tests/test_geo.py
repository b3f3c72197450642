"""The gazetteer's reading of a location: place, admin1, coordinates, ACLED's precision, or why not.

The places are the seed gold's and the MUC-4 keys' own (evals/seeds/gold.jsonl, evals/muc4-incidents/gold.jsonl)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from llm_extract.extraction.normalize import normalise_location
from llm_extract.extraction.normalize.geo import locate

GEO_KEYS = ("place", "admin1", "admin1_code", "latitude", "longitude", "geo_precision", "geo_status", "geo_reason")


def placed(location: dict[str, Any]) -> tuple[Any, ...]:
    result = locate(location, location.get("country"))
    return result["place"], result["admin1_code"], result["geo_precision"], result["geo_status"]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ({"country": "SV", "town": "SAN SALVADOR"}, ("San Salvador", "SV.10", 1, "resolved")),  # TST1-MUC3-0002
        ({"country": "GT", "town": "FLORES", "region": "PETEN"}, ("Flores", "GT.12", 1, "resolved")),  # 0001
        ({"country": "CO", "town": "MEDELLIN"}, ("Medellín", "CO.02", 1, "resolved")),  # 0006, accents folded
        ({"country": "PS", "town": None, "region": "Gaza"}, ("Gaza", "PS.GZ", 2, "resolved")),  # seed 002
        ({"country": "PS", "site": "a hospital in Gaza"}, ("Gaza", "PS.GZ", 2, "resolved")),  # seed 002
        ({"country": "IQ", "region": "south of Baghdad"}, ("Baghdad", "IQ.07", 2, "resolved")),  # seed 004
        ({"country": "GT", "region": "PETEN"}, (None, None, 3, "resolved")),  # a department: no town
        ({"country": "IQ", "site": "al-Asad airbase", "region": "western Iraq"}, (None, None, None, "unresolved")),
    ],
)
def test_places_resolve_at_acleds_precision(location: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert placed(location) == expected


def test_a_resolved_place_has_coordinates_and_says_which_rule() -> None:
    result = locate({"town": "SAN SALVADOR", "region": None}, "SV")
    assert result["latitude"] == pytest.approx(13.689, abs=0.01) and result["longitude"] == pytest.approx(
        -89.187, abs=0.01
    )
    assert result["geo_reason"] == "town 'SAN SALVADOR': the only place named SAN SALVADOR in SV"
    assert locate({"town": "FLORES", "region": "PETEN"}, "GT")["admin1"] == "Petén"
    assert locate({"town": "WASHINGTON D.C."}, "US")["admin1"] == "District of Columbia"
    assert locate({"region": "PETEN"}, "GT")["latitude"] is None, "the gazetteer lists towns, not provinces"


@pytest.mark.parametrize(
    ("location", "admin1"),
    [
        ({"country": "SV", "town": "SAN SALVADOR"}, "San Salvador Department"),  # TST1-MUC3-0002
        ({"country": "CO", "town": "MEDELLIN"}, "Antioquia"),  # TST1-MUC3-0006
        ({"country": "SV", "town": "USULUTAN"}, "Usulután"),  # a department named after its capital
        ({"country": "PS", "town": "Gaza"}, "Gaza Strip"),  # seed 002
        ({"country": "IQ", "region": "south of Baghdad"}, "Baghdad"),  # seed 004: near a town (precision 2)
    ],
)
def test_a_place_with_coordinates_gets_its_geonames_admin1_name(location: dict[str, Any], admin1: str) -> None:
    result = locate(location, location["country"])
    assert result["admin1"] == admin1 and result["geo_precision"] in (1, 2)
    assert "admin1 not taken" not in result["geo_reason"]


def test_a_nearest_place_across_a_border_gives_no_admin1() -> None:
    # the border towns' coordinates are nearest to a cities1000 place in the neighbouring country
    mazza = locate({"town": "Profesor Salvador Mazza"}, "AR")
    assert (mazza["admin1"], mazza["admin1_code"], mazza["geo_precision"]) == (None, "AR.17", 1)
    assert mazza["geo_reason"].endswith("; admin1 not taken: the nearest GeoNames place, Yacuiba, is in BO")
    desaguadero = locate({"town": "Desaguadero"}, "BO")  # Desaguadero, PE, is across the bridge
    assert desaguadero["admin1"] is None and desaguadero["geo_reason"].endswith("Desaguadero, is in PE")
    # the record's region still names the ISO subdivision
    assert locate({"town": "Desaguadero", "region": "La Paz"}, "BO")["admin1"] == "La Paz"


LAZY_PROBE = """
import sys
from llm_extract.extraction.annotate import annotate
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document

spec, document = load_schema("incident_v1"), Document(id="d", text="Rebels attacked a post in PETEN.", origin="t")
for location in ({"town": None, "region": None, "country": "Guatemala"}, {"region": "PETEN", "country": "GT"}):
    annotate([{"location": location}], document, spec)
    print("reverse_geocode" in sys.modules)
annotate([{"location": {"town": "FLORES", "country": "GT"}}], document, spec)
print("reverse_geocode" in sys.modules)
"""


def test_annotating_a_record_without_a_placed_town_never_loads_the_admin1_table() -> None:
    # a fresh interpreter: this one may have loaded it already; the last line shows the probe can see a load
    probe = subprocess.run([sys.executable, "-c", LAZY_PROBE], capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["False", "False", "True"], "no place, then a province only, then a town"


def test_a_town_of_the_same_name_in_another_country_never_wins() -> None:
    # Medellín (CO, two million people) against a record placed in El Salvador
    result = locate({"town": "Medellin"}, "SV")
    assert result["geo_status"] == "unresolved" and result["latitude"] is None
    assert result["geo_reason"] == "in another country than the record's: Medellin is in CO, PH"
    # San Salvador is in Argentina too (11,626 people): the record's country decides
    assert locate({"town": "San Salvador"}, "AR")["admin1_code"] == "AR.08"


def test_same_named_places_are_chosen_by_population_or_called_ambiguous() -> None:
    without_country = locate({"town": "San Salvador"}, None)  # SV 525,990 people against AR 11,626
    assert without_country["admin1_code"] == "SV.10"
    assert (
        "the most populous of 2 places named San Salvador (no country on the record)" in without_country["geo_reason"]
    )
    san_miguel = locate({"town": "San Miguel"}, "AR")  # 168,762 people against 7,396: ten times and more
    assert san_miguel["geo_reason"] == "town 'San Miguel': the most populous of 2 places named San Miguel in AR"
    assert locate({"town": "Santa Rosa"}, "AR")["geo_reason"] == "ambiguous: 3 places named Santa Rosa in AR"
    santa_rosa = locate({"town": "Santa Rosa"}, None)
    assert santa_rosa["geo_status"] == "unresolved" and santa_rosa["geo_reason"].startswith("ambiguous: ")


def test_what_the_gazetteer_cannot_place_stays_unresolved_with_the_reason() -> None:
    assert locate({}, "IQ")["geo_reason"] == "no place name"
    assert locate({"site": "  ", "town": None}, None)["geo_reason"] == "no place name"
    village = locate({"town": "SAJANDI"}, "CO")  # TST1-MUC3-0049: a village below the 5,000 table
    assert (village["geo_status"], village["geo_reason"]) == ("unresolved", "not in the gazetteer: SAJANDI")


def test_the_location_entry_keeps_the_country_keys_and_adds_the_gazetteers() -> None:
    result = normalise_location({"country": None, "town": "San Salvador, El Salvador"})
    assert list(result) == ["code", "name", "source", "status", "named_in_places", "conflict", *GEO_KEYS]
    assert (result["code"], result["source"], result["place"], result["geo_precision"]) == (
        "SV", "place names", "San Salvador", 1)  # fmt: skip
