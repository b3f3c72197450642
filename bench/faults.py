"""Fault tolerance at scale: 1,000 documents against the fake OpenAI server with 30% of requests faulty.

Prints JSON: final statuses, the faults the server served, retries, re-asks, backoff, wall time, and whether
every document is accounted for exactly once. Rerun with:
    .venv/bin/python bench/faults.py [--docs 1000] [--rate 0.3] [--seed 0] [--concurrency 32]
The faults (llm_extract.testing.fake_openai.FAULTS) share the faulty fraction equally: transport faults, 200
answers that are not completions (html, error_object, sse), Retry-After of 99999 s, three days, -7, `soon` and
`nan`, a server trickling its answer (one byte per 50 ms), and 500s that echo the Authorization header. Backoff is
tiny (1-10 ms, which also caps every Retry-After) so the run measures handling, not waiting; `slow` answers take
4.5 s and trickled ones would take ~15 s, against a 3 s deadline per request (`--timeout`; the deadline covers
the whole attempt, waiting for a connection included, so below ~3 s a loaded machine gives up on requests
before the fake has read them, and the served and implied request counts no longer match). The run uses an API
key and checks that no output file holds it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.runs.store import read_lines
from llm_extract.testing.fake_openai import FakeOpenAI, fault_mix

SECRET = "sk-bench-secret-0123456789abcdefghij"


def strict_json(text: str) -> bool:
    """Parses as JSON without NaN or Infinity (which Python writes but no other reader accepts)."""

    def refuse(name: str) -> float:
        raise ValueError(name)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.3, help="fraction of requests answered with a fault")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--timeout", type=float, default=3.0, help="deadline per request; slow answers take 1.5x")
    args = parser.parse_args()
    logging.getLogger("instructor").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "docs"
        folder.mkdir()
        for index in range(args.docs):
            (folder / f"doc{index:04d}.txt").write_text(f"Article {index}: a drone struck a base on Wednesday.")
        output = Path(scratch) / "out.jsonl"
        with FakeOpenAI(mix=fault_mix(args.rate), seed=args.seed, slow_s=1.5 * args.timeout, trickle_s=0.05) as fake:
            settings = load_settings(
                base_url=fake.base_url, model="fake", api_key=SECRET, concurrency=args.concurrency, max_retries=6,
                max_reasks=2, request_timeout=args.timeout, backoff_initial=0.001, backoff_max=0.01,
                cache_dir=Path(scratch) / "cache",
            )  # fmt: skip
            started = time.monotonic()
            summary = extract_batch([folder], output, settings)
            wall_s = time.monotonic() - started
        records, torn = read_lines(output)
        counts = summary.manifest["counts"]
        manifest_text = summary.manifest_path.read_text()
        leaks = sum(SECRET in path.read_text() for path in (output, summary.manifest_path))
        ids = Counter(record.doc_id for record in records)
        client_requests = sum(
            r.attempts + r.transport_retries + (r.error_kind == "model") for r in records
        )  # fmt: skip
        report = {
            "documents": args.docs,
            "fault_rate": args.rate,
            "seed": args.seed,
            "concurrency": args.concurrency,
            "statuses": counts["statuses"],
            "errors": dict(Counter((r.error or "").split(":")[0] for r in records if not r.ok)),
            "faults_served": dict(fake.served.most_common()),
            "requests_served": sum(fake.served.values()),
            "requests_by_records": client_requests,
            "transport_retries": counts["transport_retries"],
            "reasks": counts["reasks"],
            "backoff_s": counts["backoff_s"],
            "backoff_s_by_records": round(sum(r.backoff_s for r in records), 3),
            "backoff_finite": all(math.isfinite(r.backoff_s) for r in records),
            "manifest_strict_json": strict_json(manifest_text),
            "files_holding_the_key": leaks,
            "wall_s": round(wall_s, 2),
            "docs_per_s": round(args.docs / wall_s, 1),
            "accounted_once": len(ids) == args.docs and max(ids.values()) == 1 and torn == 0,
            "manifest_status": summary.manifest["status"],
            "command": " ".join([".venv/bin/python", *sys.argv]),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
