"""How well the offline gazetteer places the gold's own locations: the seed gold and the MUC-4 keys' locations.

For each gold incident the location's first stated reading of each field (site, town, region) is looked up, twice:
with the gold country (as a record whose country is right) and with no country (the place names alone), where the
gazetteer's or the place names' country is then checked against the gold's. Admin1: the MUC-4 keys name a
department for some incidents (MAPPING.md, rule *location*); the gazetteer gives GeoNames admin1 codes and no
names, so two checks are made: how often the gold region is a first-level subdivision that pycountry names, and,
where the region is also a town of the gold country (a department named after its capital, "USULUTAN"), whether
the incident's town lies in that town's admin1 (a proxy: GeoNames codes on both sides). Also the load times.

Prints JSON and writes it to --out. Rerun with:
  .venv/bin/python bench/geo.py --out bench/results/geo.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITES = {"seeds": ROOT / "evals/seeds/gold.jsonl", "muc4-incidents": ROOT / "evals/muc4-incidents/gold.jsonl"}


def first(value: Any) -> Any:
    """A gold field's first stated reading (gold lists alternatives; None among them means 'may be absent')."""
    values = value if isinstance(value, list) else [value]
    return next((item for item in values if item is not None), None)


def gold_locations(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{key: first(value) for key, value in incident["location"].items()} for row in rows
            for incident in row["incidents"]]  # fmt: skip


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
    }


def timings() -> dict[str, float]:
    """Seconds for the one-time loads (each in this fresh process) and milliseconds for one lookup after them."""
    from llm_extract.extraction.normalize.countries import _names
    from llm_extract.extraction.normalize.gazetteer import gazetteer
    from llm_extract.extraction.normalize.geo import locate

    start = time.perf_counter()
    _names()  # imports coco (and pandas, unless the package imported it already) and builds the pattern
    coco = time.perf_counter() - start
    start = time.perf_counter()
    gazetteer()
    load = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(1000):
        locate({"town": "Flores", "region": "Peten"}, "GT")
    return {"country names (coco import + pattern)": round(coco, 2), "gazetteer load": round(load, 2),
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
    }
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
