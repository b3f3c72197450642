"""Throughput against the fake OpenAI server at a fixed latency: how close the runner comes to the ideal.

Prints JSON: per concurrency, the wall time, the ideal (documents x latency / concurrency), `ratio` (wall /
ideal) and `of_ideal` (ideal / wall: issue 13 asks 0.9 at concurrency 32 and 0.8 at 64), with the CPU seconds
our process and the fake server spent, for our runner (llm_extract.api.extract_batch: fsync per line, manifest,
resume bookkeeping) and for two baselines with the same prompt, schema and instructor mode: a naive sequential
instructor loop, and plain instructor under asyncio.gather with a semaphore (instructor's create per request,
as the runner called it before issue 13). Every answer is ok (no faults). The fake server runs in its own
process, so its threads do not share our interpreter's lock. `load_before` is the 1-minute load average when
the bench starts: the machine is two cores, so anything else running shows in every figure. Rerun with:
    .venv/bin/python bench/throughput.py [--docs 1000] [--sequential-docs 100] [--latency 0.2] [--concurrency 1 8 32 64]
Runs at concurrency 1 (and the sequential baseline) use --sequential-docs documents, since 1,000 would take
1,000 x latency seconds and say nothing more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import instructor
import openai

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.providers.provider import MODES
from llm_extract.runs.store import read_lines

SERVE = """
import sys, time
from llm_extract.testing.fake_openai import FakeOpenAI
with FakeOpenAI(latency_s=float(sys.argv[1])) as fake:
    print(fake.base_url, flush=True)
    sys.stdin.read()
"""


@dataclass(frozen=True)
class Fake:
    base_url: str
    pid: int

    def cpu_s(self) -> float | None:
        """CPU seconds the fake's process has used (all its threads); None where /proc is missing."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fake_server(latency_s: float) -> Iterator[Fake]:
    """The fake in a child process; it stops when its stdin closes."""
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(latency_s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        yield Fake(child.stdout.readline().strip(), child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=10)


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measured(fake: Fake, docs: int, concurrency: int, latency_s: float, work: Callable[[], None]) -> dict[str, Any]:
    """Run `work` and report its wall time against the ideal, with the CPU both processes spent meanwhile."""
    server_before, client_before, started = fake.cpu_s(), own_cpu_s(), time.monotonic()
    work()
    wall_s = time.monotonic() - started
    client_cpu_s, server_after = own_cpu_s() - client_before, fake.cpu_s()
    server_cpu_s = None if server_before is None or server_after is None else round(server_after - server_before, 2)
    return {**row(docs, concurrency, latency_s, wall_s), "client_cpu_s": round(client_cpu_s, 2),
            "server_cpu_s": server_cpu_s}  # fmt: skip


def texts(count: int) -> list[str]:
    return [f"Article {index}: a drone struck a base on Wednesday." for index in range(count)]


def row(docs: int, concurrency: int, latency_s: float, wall_s: float) -> dict[str, Any]:
    ideal = docs * latency_s / concurrency
    return {"docs": docs, "concurrency": concurrency, "wall_s": round(wall_s, 2), "ideal_s": round(ideal, 2),
            "ratio": round(wall_s / ideal, 2), "of_ideal": round(ideal / wall_s, 2),
            "docs_per_s": round(docs / wall_s, 1)}  # fmt: skip


def run_ours(fake: Fake, docs: int, concurrency: int, latency_s: float, scratch: Path) -> dict[str, Any]:
    folder = scratch / f"docs{docs}"
    if not folder.exists():
        folder.mkdir()
        for index, text in enumerate(texts(docs)):
            (folder / f"doc{index:04d}.txt").write_text(text)
    output = scratch / f"out_j{concurrency}.jsonl"
    settings = load_settings(base_url=fake.base_url, model="fake", concurrency=concurrency, cache_dir=scratch / "cache")

    def work() -> None:
        summary = extract_batch([folder], output, settings)
        assert summary.stats.statuses["ok"] == docs == len(read_lines(output)[0])

    return measured(fake, docs, concurrency, latency_s, work)


def run_sequential_instructor(fake: Fake, docs: int, latency_s: float) -> dict[str, Any]:
    schema, prompt = load_schema("incident_v1"), load_prompt("incident_v1")
    client = instructor.from_openai(openai.OpenAI(base_url=fake.base_url, api_key="x"), mode=MODES["json_schema"])

    def work() -> None:
        for text in texts(docs):
            client.chat.completions.create(
                model="fake", messages=prompt.render(text), response_model=schema.response_model, strict=False
            )

    return measured(fake, docs, 1, latency_s, work)


def run_gather_instructor(fake: Fake, docs: int, concurrency: int, latency_s: float) -> dict[str, Any]:
    schema, prompt = load_schema("incident_v1"), load_prompt("incident_v1")

    async def main() -> None:
        raw = openai.AsyncOpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        client = instructor.from_openai(raw, mode=MODES["json_schema"])
        gate = asyncio.Semaphore(concurrency)

        async def one(text: str) -> None:
            async with gate:
                await client.chat.completions.create(
                    model="fake", messages=prompt.render(text), response_model=schema.response_model, strict=False
                )

        await asyncio.gather(*(one(text) for text in texts(docs)))
        await raw.close()

    return measured(fake, docs, concurrency, latency_s, lambda: asyncio.run(main()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--sequential-docs", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    args = parser.parse_args()
    logging.getLogger("instructor").setLevel(logging.CRITICAL)
    report: dict[str, Any] = {"latency_s": args.latency, "python": platform.python_version(),
                              "load_before": round(os.getloadavg()[0], 2),
                              "command": " ".join([".venv/bin/python", *sys.argv])}  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch, fake_server(args.latency) as fake:
        report["ours"] = [
            run_ours(fake, args.sequential_docs if j == 1 else args.docs, j, args.latency, Path(scratch))
            for j in args.concurrency
        ]
        report["instructor_sequential"] = run_sequential_instructor(fake, args.sequential_docs, args.latency)
        report["instructor_gather"] = [
            run_gather_instructor(fake, args.docs, j, args.latency) for j in args.concurrency if j > 1
        ]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
