"""Prompt-injection guard: what it catches and what it marks by mistake.

Prints JSON: for 20 paraphrased overrides in 4 languages (tests/data/injection/overrides.jsonl, with zero-width,
homoglyph and line-break variants; the set the detector was tuned on) and, apart, 10 held-out ones
(tests/data/injection/held_out.jsonl: the 5 that issue 12 found uncaught, role prefixes, a fake chat turn,
"forget everything ...", leetspeak and spaced letters, and 5 paraphrases of those classes) and, apart again, 8
newer held-out ones (tests/data/injection/held_out_2.jsonl: words strung by dots, hyphens or underscores, dotted
letters, "Override:", "From now on you are", Russian and Chinese), which are caught
alone, inside a seed article (the marked passage must cover the planted paragraph) and inside a one-paragraph
article (it must cover the override and none of the three fact sentences around it); and the false positives
on the 5 seed articles, the 200 MUC-4 dev texts
(../shared/data/muc4/dev_full.jsonl, skipped if absent) and 10 news sentences that quote such words
(tests/data/injection/news_quotes.jsonl). Rerun with:
    .venv/bin/python bench/injection.py [--muc4 ../shared/data/muc4/dev_full.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from llm_extract.inputs.injection import find_injections

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "injection"
HOST = next((ROOT / "evals" / "seeds" / "docs").glob("003_*.txt"))
# A one-paragraph article (as JSONL and MUC-4 texts often are): the override goes between its facts.
FACTS_BEFORE = (
    "BAGHDAD, Oct 18 (Reuters) - Two drones attacked al-Asad airbase on Wednesday. "
    "The Islamic Resistance in Iraq claimed the attack."
)
FACTS_AFTER = "Officials said the base remained operational."


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _planted(host: str, override: str) -> tuple[str, int, int]:
    """The override as its own paragraph after the host article's second paragraph."""
    cut = host.find("\n\n", host.find("\n\n") + 2)
    text = host[:cut] + "\n\n" + override + host[cut:]
    return text, cut + 2, cut + 2 + len(override)


def _covered(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b in spans)


def _inline(override: str) -> tuple[str, int, int]:
    start = len(FACTS_BEFORE) + 1
    return f"{FACTS_BEFORE} {override} {FACTS_AFTER}", start, start + len(override)


def _measure(overrides: list[dict[str, str]], host: str) -> dict[str, object]:
    """Caught alone, inside the seed article, inside the one-paragraph article without marking its facts."""
    missed, missed_in_article, missed_inline, facts_marked, by_group = [], [], [], [], {}
    for item in overrides:
        caught = bool(find_injections(item["text"]))
        text, start, end = _planted(host, item["text"])
        counts = by_group.setdefault(item.get("lang") or item["trick"], {"caught": 0, "of": 0})
        counts["of"] += 1
        counts["caught"] += caught
        if not caught:
            missed.append(item)
        if not _covered(find_injections(text), start, end):
            missed_in_article.append(item["text"])
        text, start, end = _inline(item["text"])
        spans = find_injections(text)
        if not _covered(spans, start, end):
            missed_inline.append(item["text"])
        if any(a < start - 1 or end + 1 < b for a, b in spans):
            facts_marked.append(item["text"])
    return {
        "caught": len(overrides) - len(missed),
        "of": len(overrides),
        "by_group": by_group,
        "missed": missed,
        "caught_inside_seed_003": len(overrides) - len(missed_in_article),
        "caught_inside_one_paragraph": len(overrides) - len(missed_inline),
        "one_paragraph_facts_marked": facts_marked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--muc4", type=Path, default=ROOT.parent / "shared" / "data" / "muc4" / "dev_full.jsonl")
    args = parser.parse_args()
    host = HOST.read_text()
    tuned = _measure(_jsonl(DATA / "overrides.jsonl"), host)
    held_out = _measure(_jsonl(DATA / "held_out.jsonl"), host)
    held_out_2 = _measure(_jsonl(DATA / "held_out_2.jsonl"), host)
    seeds = sorted((ROOT / "evals" / "seeds" / "docs").glob("*.txt"))
    seed_flags = {path.stem: find_injections(path.read_text()) for path in seeds}
    muc4 = _jsonl(args.muc4) if args.muc4.exists() else []
    started = time.perf_counter()
    muc4_flags = {doc["doc_id"]: find_injections(doc["text"]) for doc in muc4}
    elapsed = time.perf_counter() - started
    news = _jsonl(DATA / "news_quotes.jsonl")
    news_flagged = [item["text"] for item in news if find_injections(item["text"])]
    report = {
        "overrides": tuned,
        "held_out_overrides": held_out,
        "held_out_2_overrides": held_out_2,
        "false_positives": {
            "seed_articles": {"flagged": sum(bool(spans) for spans in seed_flags.values()), "of": len(seeds)},
            "muc4_dev": {
                "flagged": sorted(doc_id for doc_id, spans in muc4_flags.items() if spans),
                "of": len(muc4),
                "ms_per_text": round(1000 * elapsed / max(len(muc4), 1), 2),
            },
            "news_sentences": {"flagged": news_flagged, "of": len(news)},
        },
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
