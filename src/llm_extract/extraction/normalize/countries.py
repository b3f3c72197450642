"""Countries as ISO 3166-1 alpha-2, from the model's code or from the place names the article gives.

The names come from pycountry's ISO 3166 data: each country's short name, common name ("Syria"),
official name ("Republic of Iraq") and the short name's part before a comma ("Iran, Islamic Republic
of" -> "Iran"). A name shared by two countries ("Korea") is left out rather than guessed. Names are
matched as whole words, case-insensitively, in the location's site, town and region ("western Iraq").
Codes are never matched inside words: "IN" in a sentence is not India.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from typing import Any

import pycountry

PLACE_KEYS = ("site", "town", "region")


@cache
def _names() -> tuple[re.Pattern[str], dict[str, str]]:
    """A whole-word pattern over every unambiguous country name (longest first), and name -> alpha-2."""
    codes: defaultdict[str, set[str]] = defaultdict(set)
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            name = getattr(country, attribute, None)
            if name:
                codes[name.lower()].add(country.alpha_2)
                codes[name.split(",")[0].strip().lower()].add(country.alpha_2)
    index = {name: next(iter(found)) for name, found in codes.items() if len(found) == 1 and len(name) >= 4}
    alternation = "|".join(re.escape(name) for name in sorted(index, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE), index


def countries_named(text: str) -> list[str]:
    """Alpha-2 codes of the countries `text` names, in order of first mention."""
    pattern, index = _names()
    found: list[str] = []
    for match in pattern.finditer(text):
        code = index[match.group().lower()]
        if code not in found:
            found.append(code)
    return found


def normalise_country(location: dict[str, Any] | None) -> dict[str, Any]:
    """The location's country: the model's code when valid, else the one its place names name.

    `conflict` is set when the place names name another country than the model's code."""
    location = location or {}
    given = location.get("country")
    places = " ; ".join(str(location[key]) for key in PLACE_KEYS if location.get(key))
    named = countries_named(places) if places else []
    result: dict[str, Any] = {"code": None, "name": None, "source": None, "status": "unresolved",
                              "named_in_places": named, "conflict": False}  # fmt: skip
    country = pycountry.countries.get(alpha_2=given.upper()) if isinstance(given, str) and len(given) == 2 else None
    if country is None and isinstance(given, str) and given.strip():
        try:
            country = pycountry.countries.lookup(given.strip())  # a name given where a code was asked for
        except LookupError:
            country = None
    if country is not None:
        result.update(code=country.alpha_2, name=country.name, source="model", status="resolved")
        result["conflict"] = bool(named) and country.alpha_2 not in named
    elif named:
        country = pycountry.countries.get(alpha_2=named[0])
        result.update(code=named[0], name=country.name if country else None, source="place names", status="resolved")
    return result
