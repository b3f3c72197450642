"""Where an incident happened, as analysts code it: a gazetteer place, its admin1, coordinates and a precision.

The record's place words (town, then site, then region) are looked up offline in the GeoNames gazetteer
(`gazetteer.py`, which says why that one and what it lacks). The precision is ACLED's:

| precision | rule (`geo_reason` names it)                                    | example                       |
|-----------|-----------------------------------------------------------------|-------------------------------|
| 1         | the town is a gazetteer place                                   | town "SAN SALVADOR"           |
| 2         | the place is part of or near a gazetteer place: a town's words  | region "south of Baghdad",    |
|           | after "in", "near", "of"..., a site named like a town, a region | site "a hospital in Gaza",    |
|           | named after one (its coordinates are that town's)               | region "Gaza"                 |
| 3         | only the province is known: the region names a first-level      | region "PETEN" (no            |
|           | subdivision of the record's country (no coordinates: the        | coordinates)                  |
|           | gazetteer lists towns)                                          |                               |

A name is looked up in the record's country (a town of that name in another country never wins); of several
places so named, the most populous wins when it has DOMINANT times the next one's people, else the name is
ambiguous. With no country on the record, every country's places compete by the same rule. A location the
gazetteer cannot place stays `unresolved`, and `geo_reason` says why ("no place name", "not in the gazetteer",
"ambiguous: 3 places named X in CO", "in another country than the record's"). `admin1_code` is
GeoNames' ("SV.10"). `admin1` is a name: for a place with coordinates (precision 1 and 2), that of GeoNames'
nearest place in the same country ("San Salvador Department"); where that place is across a border or has no
admin1, the record's region's ISO 3166-2 name, else the US state by code, else None, and `geo_reason` ends with
why ("; admin1 not taken: the nearest GeoNames place, Yacuiba, is in BO"). At precision 3 it is the region's
ISO 3166-2 name ("Petén").
"""

from __future__ import annotations

import re
from typing import Any

from llm_extract.extraction.normalize.countries import normalise_country
from llm_extract.extraction.normalize.gazetteer import Place, gazetteer, nearest_admin1, subdivision

PLACE_ORDER = ("town", "site", "region")  # the most specific words first
DOMINANT = 10  # the most populous of several same-named places wins with 10 times the next one's people
# The place a phrase is in or near: the words after its last "in", "near", "of"... ("a hospital in Gaza").
_CONTAINER = re.compile(r"\b(?:in|near|of|outside|at|from|around|to)\s+(?P<place>[^,;()]+?)\s*$", re.IGNORECASE)
_DIRECTION = re.compile(r"^(?:the\s+)?(?:north|south|east|west|central|north-?east|north-?west|south-?east|"
                        r"south-?west)(?:ern)?\s+", re.IGNORECASE)  # fmt: skip
_SEPARATOR = re.compile(r"[,;()]")


def _phrases(text: str) -> list[tuple[str, str]]:
    """The names a place phrase may hold, each with how the place relates to it: "whole" (the phrase is the
    place), "part" ("western Baghdad" is part of Baghdad) or "near" ("south of Baghdad", "a hospital in Gaza")."""
    head = _SEPARATOR.split(text)[0].strip()  # "San Salvador, El Salvador": the rest is what holds it
    found = [(text.strip(), "whole"), (head, "whole"), (_DIRECTION.sub("", head), "part")]
    if match := _CONTAINER.search(head):
        found.append((match["place"], "near"))
    unique: dict[str, str] = {}
    for name, kind in found:
        if name:
            unique.setdefault(name, kind)  # the first reading of a name is the closest
    return list(unique.items())


def choose_place(name: str, country: str | None) -> tuple[Place | None, str]:
    """The place `name` means in `country` (any country when None), and the rule or why none."""
    places = gazetteer().named(name, country)
    where = f"in {country}" if country else "(no country on the record)"
    inside = [place for place in places if country is None or place.country == country]
    if not inside:
        if places:
            elsewhere = ", ".join(sorted({place.country for place in places}))
            return None, f"in another country than the record's: {name} is in {elsewhere}"
        return None, f"not in the gazetteer: {name}"
    ranked = sorted(inside, key=lambda place: place.population, reverse=True)
    if len(ranked) == 1:
        return ranked[0], f"the only place named {name} {where}"
    if ranked[0].population >= DOMINANT * max(ranked[1].population, 1):
        return ranked[0], f"the most populous of {len(ranked)} places named {name} {where}"
    return None, f"ambiguous: {len(ranked)} places named {name} {where}"


_FAILURE_RANK = ("ambiguous", "in another country", "not in the gazetteer")  # the most telling reason first


def locate(location: dict[str, Any] | None, country: str | None) -> dict[str, Any]:
    """The gazetteer's reading of a record's location (see the module table); `country` is the record's code."""
    location = location or {}
    words = [(key, str(location[key]).strip()) for key in PLACE_ORDER if str(location.get(key) or "").strip()]
    result: dict[str, Any] = {"place": None, "admin1": None, "admin1_code": None, "latitude": None,
                              "longitude": None, "geo_precision": None, "geo_status": "unresolved",
                              "geo_reason": "no place name"}  # fmt: skip
    regions = [name for key, text in words if key == "region" for name, kind in _phrases(text) if kind != "near"]
    admin1 = next((found for name in regions if country and (found := subdivision(name, country))), None)
    failures: list[str] = []
    for key, text in words:
        for name, kind in _phrases(text):
            place, why = choose_place(name, country)
            if place is None:
                failures.append(why)
                continue
            precision = 1 if kind == "whole" and key == "town" else 2
            named, unnamed = nearest_admin1(place)
            result.update(place=place.name, admin1=named or admin1 or gazetteer().us_state(place),
                          admin1_code=place.admin1_code, latitude=place.latitude, longitude=place.longitude,
                          geo_precision=precision, geo_status="resolved",
                          geo_reason=f"{key} {text!r}: {why}"
                          + (f"; admin1 not taken: {unnamed}" if unnamed else ""))  # fmt: skip
            return result
    if admin1 is not None:
        result.update(admin1=admin1, geo_precision=3, geo_status="resolved",
                      geo_reason=f"region names the first-level subdivision {admin1} of {country}")  # fmt: skip
    elif failures:
        result["geo_reason"] = min(failures, key=lambda why: next(i for i, r in enumerate(_FAILURE_RANK) if r in why))
    return result


def normalise_location(location: dict[str, Any] | None) -> dict[str, Any]:
    """The location's country (`normalise_country`) and, beside it, the gazetteer's place (`locate`)."""
    country = normalise_country(location)
    return country | locate(location, country["code"])
