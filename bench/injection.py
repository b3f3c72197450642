"""Prompt-injection guard: what it catches and what it marks by mistake.

Prints JSON: for 20 paraphrased overrides in 4 languages (tests/data/injection/overrides.jsonl, with zero-width,
homoglyph and line-break variants), which are caught alone and inside a seed article (where the marked passage
must cover the planted text); and the false positives on the 5 seed articles, the 200 MUC-4 dev texts
(../shared/data/muc4/dev_full.jsonl, skipped if absent) and 10 news sentences that quote such words
(tests/data/injection/news_quotes.jsonl). Rerun with:
    .venv/bin/python bench/injection.py [--muc4 ../shared/data/muc4/dev_full.jsonl]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from llm_extract.injection import find_injections

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "injection"
HOST = next((ROOT / "evals" / "seeds" / "docs").glob("003_*.txt"))


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _planted(host: str, override: str) -> tuple[str, int, int]:
    """The override as its own paragraph after the host article's second paragraph."""
    cut = host.find("\n\n", host.find("\n\n") + 2)
    text = host[:cut] + "\n\n" + override + host[cut:]
    return text, cut + 2, cut + 2 + len(override)


def _covered(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a <= start and end <= b for a, b in spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--muc4", type=Path, default=ROOT.parent / "shared" / "data" / "muc4" / "dev_full.jsonl")
    args = parser.parse_args()
    host = HOST.read_text()
    missed, missed_in_article, by_language = [], [], {}
    overrides = _jsonl(DATA / "overrides.jsonl")
    for item in overrides:
        caught = bool(find_injections(item["text"]))
        text, start, end = _planted(host, item["text"])
        caught_in_article = _covered(find_injections(text), start, end)
        counts = by_language.setdefault(item["lang"], {"caught": 0, "of": 0})
        counts["of"] += 1
        counts["caught"] += caught
        if not caught:
            missed.append(item)
        if not caught_in_article:
            missed_in_article.append(item["text"])
    seeds = sorted((ROOT / "evals" / "seeds" / "docs").glob("*.txt"))
    seed_flags = {path.stem: find_injections(path.read_text()) for path in seeds}
    muc4 = _jsonl(args.muc4) if args.muc4.exists() else []
    started = time.perf_counter()
    muc4_flags = {doc["doc_id"]: find_injections(doc["text"]) for doc in muc4}
    elapsed = time.perf_counter() - started
    news = _jsonl(DATA / "news_quotes.jsonl")
    news_flagged = [item["text"] for item in news if find_injections(item["text"])]
    report = {
        "overrides": {
            "caught": len(overrides) - len(missed),
            "of": len(overrides),
            "by_language": by_language,
            "missed": missed,
            "caught_inside_seed_003": len(overrides) - len(missed_in_article),
        },
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
