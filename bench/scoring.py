"""Scoring speed: the seed suite's scorer over 10,000 synthetic documents with 1-5 incidents each.

Prints JSON. Rerun with:  .venv/bin/python bench/scoring.py [--docs 10000] [--seed 0]
Predictions are gold with random perturbations (wrong dates, renamed sites, dropped and spurious
incidents), so alignment and every comparator do real work. No model is involved.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import time
from typing import Any

from llm_extract.scoring import score
from llm_extract.suite import load_suite

SITES = ["al-Asad airbase", "al-Harir airbase", "Erbil airport", "Kirkuk K1 base", "Victory base", None]
TYPES = ["air_drone_strike", "shelling_artillery_missile_attack", "armed_clash", "attack", "suicide_bomb"]
GROUPS = ["Islamic Resistance in Iraq", "Kataib Hezbollah", "Tashkil al-Waritheen", "Hamas", "ISIS"]


def incident(rng: random.Random, ident: str) -> dict[str, Any]:
    return {
        "id": ident,
        "role": rng.choice(["main", "background"]),
        "sub_event_type": rng.choice(TYPES),
        "weapons": [{"type": rng.choice(["drone", "rocket", "missile"])} for _ in range(rng.randint(0, 2))],
        "date": {"start": f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", "precision": "day"},
        "location": {"site": rng.choice(SITES), "town": None, "region": rng.choice(["western Iraq", "Anbar", None]),
                     "country": rng.choice(["IQ", "SY"])},
        "perpetrators": [{"name": rng.choice(GROUPS), "attribution": rng.choice(["claimed", "suspected"])}],
        "claimed_by": rng.sample(GROUPS, rng.randint(0, 2)),
        "targets": [{"kind": rng.choice(["military", "civilian"])}],
        "outcome": {"intercepted": rng.choice([True, False, None])},
        "casualties": {"killed": {"min": rng.choice([None, 0, 3]), "max": None},
                       "injured": {"min": rng.choice([None, 1]), "max": None}},
    }  # fmt: skip


def perturb(rng: random.Random, gold: list[dict[str, Any]]) -> list[dict[str, Any]]:
    predicted = [copy.deepcopy(item) for item in gold if rng.random() > 0.15]
    for item in predicted:
        if rng.random() < 0.3:
            item["date"]["start"] = f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if rng.random() < 0.3 and item["location"]["site"]:
            item["location"]["site"] = item["location"]["site"].upper().replace("-", " ")
    if rng.random() < 0.3:
        predicted.append(incident(rng, "spurious"))
    return predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    config = load_suite("seeds").scoring
    gold = {f"d{i}": [incident(rng, f"d{i}-{j}") for j in range(rng.randint(1, 5))] for i in range(args.docs)}
    predicted = {doc_id: perturb(rng, items) for doc_id, items in gold.items()}
    started = time.perf_counter()
    result = score(config, gold, predicted)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "benchmark": "scoring speed (seed suite scorer, synthetic documents)",
        "command": f".venv/bin/python bench/scoring.py --docs {args.docs} --seed {args.seed}",
        "machine": platform.platform(),
        "documents": args.docs,
        "gold_incidents": sum(len(items) for items in gold.values()),
        "predicted_incidents": sum(len(items) for items in predicted.values()),
        "seconds": round(seconds, 3),
        "documents_per_s": round(args.docs / seconds, 1),
        "incident_f1": round(result.incidents.f1, 4),
        "field_micro_f1": round(result.micro.f1, 4),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
