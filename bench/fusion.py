"""Fusion speed: `fuse` over 1,000, 10,000 and 100,000 synthetic incidents, and how the cost grows.

Prints JSON. Rerun with:  .venv/bin/python bench/fusion.py [--sizes 1000 10000 100000] [--seed 0] [--repeat 3]
Each time is the best of `--repeat` runs (one run from 100,000 up), each started with empty name caches.
Each synthetic event (25 countries, named bases, armed groups) is reported by 1-4 articles, each report
perturbed as extracted reports are: a day off, a coarser or missing date, the site spelt differently or
only described, no region, another weapon count, another claimant, other casualty figures. Articles
carry 1-3 incidents of different events. Two worlds:

- "fixed": every size spans the same five years, so reports get denser as there are more of them (as
  when a fixed period and region is covered by more and more sources);
- "growing": the span grows with the size (five years per 1,000 incidents), so the density of reports
  per country and day stays that of 1,000 incidents in five years (as when more periods are covered).

Blocking compares only reports close in time within a country, so cost follows the density: about
linear in the growing world, faster in the fixed one. The true event of each report is known, so the
output also gives the clustering scores. No model is involved.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import platform
import random
import time
from typing import Any

from llm_extract.core.text import fold_name
from llm_extract.events.clustering import bcubed, pairwise
from llm_extract.events.fusion import fuse, source_incident
from llm_extract.scoring.incidents import SourceIncident, same_name

COUNTRIES = ["IQ", "SY", "YE", "LB", "PS", "IL", "AF", "PK", "NG", "ML", "BF", "SO", "SD", "ET", "CD",
             "MZ", "UA", "MM", "CO", "MX", "LY", "EG", "TR", "IR", "CM"]  # fmt: skip
TYPES = ["air_drone_strike", "shelling_artillery_missile_attack", "armed_clash", "attack",
         "remote_explosive_landmine_ied", "suicide_bomb"]  # fmt: skip
WEAPONS = ["drone", "missile", "rocket", "mortar", "firearms", "explosive_device"]
FIVE_YEARS = 5 * 365


def made_up_name(rng: random.Random) -> str:
    syllables = [rng.choice("bdfghkmnrstwz") + rng.choice("aeiou") for _ in range(rng.randint(2, 3))]
    return "".join(syllables).capitalize()


def world(rng: random.Random) -> dict[str, Any]:
    """Named bases, regions and armed groups per country."""
    return {
        country: {
            "sites": [f"{made_up_name(rng)} airbase" for _ in range(40)],
            "regions": [f"{side} {made_up_name(rng)}" for side in ("northern", "southern", "eastern", "western")],
            "groups": [f"{made_up_name(rng)} Brigades" for _ in range(6)],
        }
        for country in COUNTRIES
    }


def event(rng: random.Random, places: dict[str, Any], days: int) -> dict[str, Any]:
    country = rng.choice(COUNTRIES)
    local = places[country]
    weapon = rng.choice(WEAPONS)
    return {
        "sub_event_type": rng.choice(TYPES),
        "weapons": [{"type": weapon, "count": rng.randint(1, 4)}],
        "date": dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(days)),
        "location": {"site": rng.choice(local["sites"]), "town": None, "region": rng.choice(local["regions"]),
                     "country": country},
        "group": rng.choice(local["groups"]),
        "killed": rng.choice([0, 1, 2, 5, None]),
    }  # fmt: skip


def report(rng: random.Random, truth: dict[str, Any]) -> dict[str, Any]:
    """One article's extraction of the event: the perturbations listed in the module doc."""
    day, precision = truth["date"], "day"
    roll = rng.random()
    if roll < 0.15:
        day += dt.timedelta(days=rng.choice([-1, 1]))
    elif roll < 0.25:
        precision = "unknown"
    elif roll < 0.32:
        precision = "month"
    elif roll < 0.35:
        day, precision = None, "unknown"
    site = truth["location"]["site"]
    roll = rng.random()
    if roll < 0.2:
        site = "al-" + site.replace(" airbase", " air base")
    elif roll < 0.35:
        site = "a base in " + truth["location"]["region"]
    elif roll < 0.5:
        site = None
    weapon = dict(truth["weapons"][0])
    if rng.random() < 0.2:
        weapon["count"] = None if rng.random() < 0.5 else weapon["count"] + 1
    killed = truth["killed"] if rng.random() < 0.7 else rng.choice([None, 0, 3])
    return {
        "sub_event_type": truth["sub_event_type"] if rng.random() < 0.9 else rng.choice(TYPES),
        "weapons": [weapon] if rng.random() < 0.85 else [],
        "date": {"start": day.isoformat() if day else None, "end": None, "precision": precision},
        "location": {"site": site, "town": None,
                     "region": truth["location"]["region"] if rng.random() < 0.7 else None,
                     "country": truth["location"]["country"] if rng.random() < 0.95 else None},
        "perpetrators": [{"name": truth["group"], "attribution": rng.choice(["claimed", "suspected"])}]
        if rng.random() < 0.7 else [],
        "claimed_by": [truth["group"]] if rng.random() < 0.3 else [],
        "targets": [{"name": "soldiers", "kind": "military"}],
        "outcome": {"intercepted": rng.choice([True, False, None])},
        "casualties": {"killed": {"min": killed, "max": killed, "text": None},
                       "injured": {"min": None, "max": None, "text": None}},
    }  # fmt: skip


def corpus(size: int, rng: random.Random, days: int) -> tuple[list[SourceIncident], dict[str, int]]:
    """`size` reports of synthetic events over `days`, packed into articles, and each report's true event."""
    places = world(rng)
    drafts: list[tuple[int, dict[str, Any]]] = []
    number = 0
    while len(drafts) < size:
        truth = event(rng, places, days)
        copies = rng.choices([1, 2, 3, 4], weights=[50, 25, 15, 10])[0]
        drafts += [(number, report(rng, truth)) for _ in range(copies)]
        number += 1
    drafts = drafts[:size]
    rng.shuffle(drafts)
    reports: list[SourceIncident] = []
    truth_of: dict[str, int] = {}
    article, in_article, capacity = 0, set(), 1
    for event_number, incident in drafts:
        if len(in_article) >= capacity or event_number in in_article:
            article, in_article, capacity = article + 1, set(), rng.choice([1, 1, 2, 3])
        in_article.add(event_number)
        doc_id = f"a{article:07d}"
        index = len(in_article) - 1
        item = source_incident(f"{doc_id}#{index}", doc_id, index, incident)
        reports.append(item)
        truth_of[item.id] = event_number
    return reports, truth_of


def measure(world_kind: str, size: int, seed: int, repeat: int) -> dict[str, Any]:
    days = FIVE_YEARS if world_kind == "fixed" else FIVE_YEARS * size // 1000
    timings = []
    for _ in range(repeat if size < 100_000 else 1):
        same_name.cache_clear()
        fold_name.cache_clear()
        reports, truth = corpus(size, random.Random(seed), days)
        started = time.perf_counter()
        fusion = fuse(reports)
        timings.append(time.perf_counter() - started)
    seconds = min(timings)
    predicted = {member: n for n, members in enumerate(fusion.clusters) for member in members}
    stats = fusion.stats
    return {
        "world": world_kind,
        "years": round(days / 365, 1),
        "incidents": size,
        "articles": stats["articles"],
        "true_events": len(set(truth.values())),
        "events": stats["events"],
        "seconds": round(seconds, 3),
        "all_pairs": stats["all_pairs"],
        "candidate_pairs": stats["candidate_pairs"],
        "share_of_pairs_compared": round(stats["candidate_pairs"] / stats["all_pairs"], 6),
        "pairs_linked": stats["linked_pairs"],
        "pairwise": pairwise(predicted, truth).as_dict(),
        "bcubed": bcubed(predicted, truth).as_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for world_kind in ("fixed", "growing"):
        measured = [measure(world_kind, size, args.seed, args.repeat) for size in args.sizes]
        for smaller, larger in itertools.pairwise(measured):
            larger["growth_vs_previous"] = {
                "incidents": round(larger["incidents"] / smaller["incidents"], 1),
                "seconds": round(larger["seconds"] / smaller["seconds"], 1),
                "candidate_pairs": round(larger["candidate_pairs"] / smaller["candidate_pairs"], 1),
            }
        runs += measured
    print(json.dumps({
        "benchmark": "fusion speed (llm_extract.events.fusion.fuse, synthetic incidents)",
        "command": f".venv/bin/python bench/fusion.py --sizes {' '.join(map(str, args.sizes))} --seed {args.seed} "
        f"--repeat {args.repeat}",
        "machine": platform.platform(),
        "python": platform.python_version(),
        "runs": runs,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
