"""Scoring speed: the seed suite's scorer over 10,000 synthetic documents with 1-5 incidents each.

Prints JSON. Rerun with:  .venv/bin/python bench/scoring.py [--docs 10000] [--seed 0] [--reference-docs 1000]
Predictions are gold with random perturbations (wrong dates, renamed sites, dropped and spurious
incidents), so alignment and every comparator do real work. No model is involved.

The same run first times the reference scorer (scoring.reference_score_document: every pair compared
afresh, as score_document worked before issue 13) on the first --reference-docs documents, and checks that
both give the same scores there, so the speed-up is a ratio under the same machine load. The reference's
rate is a little flattering: the old score() over all 10,000 documents also paid for collector passes
over its growing results.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import time
from typing import Any

from llm_extract.scoring.fields import DocumentScore, ScoringConfig, reference_score_document, score
from llm_extract.scoring.suite import load_suite

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


def reference_run(
    config: ScoringConfig, gold: dict[str, Any], predicted: dict[str, Any], docs: int
) -> tuple[float, list[DocumentScore]]:
    """Documents/s of the reference scorer on the first `docs` documents (the old path), run before the fast
    one so that neither pays for the other's results on the heap."""
    doc_ids = list(gold)[:docs]
    started = time.perf_counter()
    documents = [reference_score_document(config, d, gold[d], predicted.get(d, [])) for d in doc_ids]
    return len(doc_ids) / (time.perf_counter() - started), documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-docs", type=int, default=1000, help="0 skips the reference scorer")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    config = load_suite("seeds").scoring
    gold = {f"d{i}": [incident(rng, f"d{i}-{j}") for j in range(rng.randint(1, 5))] for i in range(args.docs)}
    predicted = {doc_id: perturb(rng, items) for doc_id, items in gold.items()}
    rate, old = reference_run(config, gold, predicted, args.reference_docs) if args.reference_docs > 0 else (0.0, [])
    started = time.perf_counter()
    result = score(config, gold, predicted)
    seconds = time.perf_counter() - started
    reference: dict[str, Any] = {}
    if old:
        reference = {
            "reference_documents": len(old),
            "reference_documents_per_s": round(rate, 1),
            "speedup": round(args.docs / seconds / rate, 1),
            # Every detail of those documents, as tests/test_scoring_speed_equivalence.py checks in full.
            "reference_equal": old == result.documents[: len(old)],
        }
    print(json.dumps({
        "benchmark": "scoring speed (seed suite scorer, synthetic documents)",
        "command": f".venv/bin/python bench/scoring.py --docs {args.docs} --seed {args.seed} "
        f"--reference-docs {args.reference_docs}",
        "machine": platform.platform(),
        "documents": args.docs,
        "gold_incidents": sum(len(items) for items in gold.values()),
        "predicted_incidents": sum(len(items) for items in predicted.values()),
        "seconds": round(seconds, 3),
        "documents_per_s": round(args.docs / seconds, 1),
        **reference,
        "incident_f1": round(result.incidents.f1, 4),
        "field_micro_f1": round(result.micro.f1, 4),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
