"""Fault tolerance at scale: 1,000 documents against the fake OpenAI server with 30% of requests faulty.

Prints JSON: final statuses, the faults the server served, retries, re-asks, backoff, wall time, and whether
every document is accounted for exactly once. Rerun with:
    .venv/bin/python bench/faults.py [--docs 1000] [--rate 0.3] [--seed 0] [--concurrency 32]
The faults (llm_extract.testing.fake_openai.FAULTS) share the faulty fraction equally. Backoff is tiny
(1-10 ms) so the run measures handling, not waiting; `slow` answers take 1.5 s against a 1 s timeout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from llm_extract.api import extract_batch
from llm_extract.config import load_settings
from llm_extract.store import read_records
from llm_extract.testing.fake_openai import FakeOpenAI, fault_mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.3, help="fraction of requests answered with a fault")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    logging.getLogger("instructor").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "docs"
        folder.mkdir()
        for index in range(args.docs):
            (folder / f"doc{index:04d}.txt").write_text(f"Article {index}: a drone struck a base on Wednesday.")
        output = Path(scratch) / "out.jsonl"
        with FakeOpenAI(mix=fault_mix(args.rate), seed=args.seed, slow_s=1.5) as fake:
            settings = load_settings(
                base_url=fake.base_url, model="fake", concurrency=args.concurrency, max_retries=6, max_reasks=2,
                request_timeout=1.0, backoff_initial=0.001, backoff_max=0.01, cache_dir=Path(scratch) / "cache",
            )  # fmt: skip
            started = time.monotonic()
            summary = extract_batch([folder], output, settings)
            wall_s = time.monotonic() - started
        records, torn = read_records(output)
        counts = summary.manifest["counts"]
        ids = Counter(record["doc_id"] for record in records)
        client_requests = sum(
            r["attempts"] + r["transport_retries"] + (r["error_kind"] == "model") for r in records
        )  # fmt: skip
        report = {
            "documents": args.docs,
            "fault_rate": args.rate,
            "seed": args.seed,
            "concurrency": args.concurrency,
            "statuses": counts["statuses"],
            "errors": dict(Counter((r.get("error") or "").split(":")[0] for r in records if r["status"] != "ok")),
            "faults_served": dict(fake.served.most_common()),
            "requests_served": sum(fake.served.values()),
            "requests_by_records": client_requests,
            "transport_retries": counts["transport_retries"],
            "reasks": counts["reasks"],
            "backoff_s": counts["backoff_s"],
            "backoff_s_by_records": round(sum(r["backoff_s"] for r in records), 3),
            "wall_s": round(wall_s, 2),
            "docs_per_s": round(args.docs / wall_s, 1),
            "accounted_once": len(ids) == args.docs and max(ids.values()) == 1 and torn == 0,
            "manifest_status": summary.manifest["status"],
            "command": " ".join([".venv/bin/python", *sys.argv]),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
