"""Speed of the embedded model: the extraction pipeline over the seed articles, and the server's raw rates.

Prints JSON. Rerun with:  make bench   (or: .venv/bin/python bench/local_model.py [--docs DIR])
Per article: wall seconds; prompt and completion tokens (summed over re-asks) and their rate over the
wall time; and what llama.cpp itself measured (its /metrics counters): prompt tokens processed and
reused from its cache, prompt and generation rates (generation here is grammar-constrained JSON).
Raw: one direct /completion call on the same server, no cache and no grammar, for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

import httpx

from llm_extract.api import make_extractor
from llm_extract.config import load_settings
from llm_extract.documents import Document, iter_inputs
from llm_extract.extract import ExtractionResult, Extractor
from llm_extract.provider import open_endpoint
from llm_extract.requests import ExtractionRequest, build_request

ROOT = Path(__file__).resolve().parents[1]


def raw_rates(root_url: str, prompt_words: int = 600, n_predict: int = 128) -> dict[str, float]:
    """Prompt and generation rates as llama.cpp measures them, with no cache and no grammar."""
    prompt = " ".join(f"word{i}" for i in range(prompt_words))
    response = httpx.post(
        f"{root_url}/completion",
        json={"prompt": prompt, "n_predict": n_predict, "cache_prompt": False, "temperature": 0, "ignore_eos": True},
        timeout=600,
    )
    response.raise_for_status()
    timings = response.json()["timings"]
    return {
        "prompt_tokens": timings["prompt_n"],
        "prompt_tokens_per_s": round(timings["prompt_per_second"], 2),
        "generated_tokens": timings["predicted_n"],
        "generation_tokens_per_s": round(timings["predicted_per_second"], 2),
    }


COUNTERS = ("prompt_tokens_total", "prompt_tokens_cached_total", "prompt_seconds_total",
            "tokens_predicted_total", "tokens_predicted_seconds_total")  # fmt: skip


def server_counters(root_url: str) -> dict[str, float]:
    """llama.cpp's own cumulative counters (its /metrics endpoint)."""
    values = {}
    for line in httpx.get(f"{root_url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name.removeprefix("llamacpp:") in COUNTERS:
            values[name.removeprefix("llamacpp:")] = float(value)
    return values


def server_rates(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What the server measured for one article: tokens processed, cache hits, and its own rates."""
    delta = {name: after[name] - before[name] for name in COUNTERS}
    return {
        "server_prompt_tokens": int(delta["prompt_tokens_total"]),
        "server_prompt_tokens_cached": int(delta["prompt_tokens_cached_total"]),
        "server_prompt_tokens_per_s": round(delta["prompt_tokens_total"] / delta["prompt_seconds_total"], 2),
        "server_generated_tokens": int(delta["tokens_predicted_total"]),
        "server_generation_tokens_per_s": round(
            delta["tokens_predicted_total"] / delta["tokens_predicted_seconds_total"], 2
        ),
    }


async def extract_in_turn(
    extractor: Extractor, requests: list[ExtractionRequest], root_url: str
) -> list[tuple[ExtractionResult, dict[str, float]]]:
    """One article at a time (as a 2-core machine serves them best), with the server's timings for each."""
    results = []
    try:
        for request in requests:
            before = server_counters(root_url)
            result = await extractor.extract(request)
            results.append((result, server_rates(before, server_counters(root_url))))
        return results
    finally:
        await extractor.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=Path, default=ROOT / "evals" / "seeds" / "docs")
    args = parser.parse_args()
    settings = load_settings()
    documents = [item for item in iter_inputs([args.docs]) if isinstance(item, Document)]
    started = time.monotonic()
    with open_endpoint(settings) as endpoint:
        startup_s = time.monotonic() - started
        extractor = make_extractor(endpoint, settings)
        root_url = endpoint.base_url.removesuffix("/v1")
        requests = [build_request(d, extractor.prompt) for d in documents]
        results = asyncio.run(extract_in_turn(extractor, requests, root_url))
        per_doc = []
        for document, (result, server) in zip(documents, results, strict=True):
            usage = result.usage
            per_doc.append({
                "doc_id": document.id, "status": result.status, "seconds": result.latency_s,
                "attempts": result.attempts, "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "prompt_tokens_per_wall_s": round(usage.prompt_tokens / result.latency_s, 2),
                "completion_tokens_per_wall_s": round(usage.completion_tokens / result.latency_s, 2),
                **server,
            })  # fmt: skip
        raw = raw_rates(root_url)
    seconds = [doc["seconds"] for doc in per_doc]
    report = {
        "benchmark": "embedded model over the seed articles",
        "command": "make bench",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "endpoint": endpoint.describe(),
        "settings": {"threads": settings.local_threads or os.cpu_count(), "concurrency": settings.concurrency},
        "startup_s": round(startup_s, 2),
        "seconds_per_article": {
            "mean": round(statistics.mean(seconds), 2), "median": round(statistics.median(seconds), 2),
            "min": min(seconds), "max": max(seconds),
        },
        "articles": per_doc,
        "server_raw": raw,
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
