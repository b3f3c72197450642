"""Speed of the embedded model: today's settings against the new defaults, in one run, with the eval figures of both.

Prints JSON (and writes it to --out). Rerun with:  make bench-local   (or: .venv/bin/python bench/local_model.py)

Arms over the same documents (default: before and after; also slots4, speculation, numbered): the 5 seed
articles (suite `seeds`, about 7 minutes an arm on 2 cores) and 30 fixed MUC-4 development documents (suite
`muc4`, every sixth of its 200 from the first, about 12 minutes an arm):
- `before`: the settings of 2026-12-02: one slot and one document in flight, no speculation, the suites' prompts
  of that day (incident_v1, which has the model copy its evidence sentences; muc4_v3);
- `after`: the defaults of this checkout (slots from the machine, the suites' current prompts);
- `slots4`: four slots and four documents in flight; `speculation`: one slot with n-gram speculation;
  `numbered`: one slot with prompt incident_v2 (evidence cited by sentence number; seeds only).
Each arm and suite runs through `extract_batch` in a child process of its own, so that process's peak resident
memory of its children is the llama.cpp server's. Reported per arm and suite: wall seconds, articles per hour,
seconds per article, generated tokens per article (summed over re-asks), re-asks and statuses, speculation
acceptance (from the server's log), the seconds the server spent reading prompts and generating (its own
timings) with the speed-up that a zero-token answer would bound (wall / prompt seconds), peak memory, and the
suite's eval figures on these documents (no model call).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Settings per arm; PROMPTS: an arm's prompt per suite where it is not the suite's (None: the arm does not apply).
ARMS: dict[str, dict[str, Any]] = {
    "before": {"concurrency": 1, "local_speculation": False},
    "after": {},
    "slots4": {"concurrency": 4, "local_speculation": False},
    "speculation": {"concurrency": 1, "local_speculation": True},
    "numbered": {"concurrency": 1, "local_speculation": False},
}
PROMPTS: dict[str, dict[str, str | None]] = {
    "before": {"seeds": "incident_v1", "muc4": "muc4_v3"},  # the suites' prompts on 2026-12-02
    "numbered": {"seeds": "incident_v2", "muc4": None},  # evidence by sentence number; muc4_v1 cites no sentences
}
MUC4_STEP, MUC4_COUNT = 6, 30
ACCEPTANCE = re.compile(r"draft acceptance = [\d.]+ \(\s*(\d+) accepted /\s*(\d+) generated\)")
# llama.cpp's per-request timings: reading the prompt ("prompt eval time") and generating ("eval time").
TIMING = re.compile(r"\|\s+(prompt eval|eval) time =\s+([\d.]+) ms /\s+(\d+) tokens")
TRACKED = {
    "seeds": ("incidents.f1", "fields.micro.f1", "fields.micro.precision", "fields.micro.recall", "grounding.rate"),
    "muc4": ("gtt.micro.f1", "gtt.micro.precision", "gtt.micro.recall"),
}


def suite_inputs(suite_name: str, work: Path) -> tuple[Path, Path | None]:
    """The documents of one suite for this bench (a folder or JSONL), and a gold file limited to them (or None)."""
    from llm_extract.scoring.suite import load_suite

    suite = load_suite(suite_name)
    if suite_name != "muc4":
        return suite.documents, None
    lines = suite.documents.read_text(encoding="utf-8").splitlines()
    chosen = [line for line in lines if line.strip()][::MUC4_STEP][:MUC4_COUNT]
    ids = {json.loads(line)["id"] for line in chosen}
    docs = work / "muc4_docs.jsonl"
    docs.write_text("\n".join(chosen) + "\n", encoding="utf-8")
    gold = work / "muc4_gold.jsonl"
    kept = [line for line in suite.gold_path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line)["doc_id"] in ids]  # fmt: skip
    gold.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return docs, gold


def speculation(log_text: str) -> dict[str, Any]:
    """Draft tokens accepted of those proposed, summed over the server's per-request lines."""
    accepted = proposed = 0
    for match in ACCEPTANCE.finditer(log_text):
        accepted, proposed = accepted + int(match.group(1)), proposed + int(match.group(2))
    return {"draft_accepted": accepted, "draft_proposed": proposed,
            "acceptance": round(accepted / proposed, 3) if proposed else None}  # fmt: skip


def server_time(log_text: str) -> dict[str, Any]:
    """Seconds the server spent reading prompts and generating, from its own timings.

    `prompt_eval_s` is a floor no prompt or schema change can go under while every document is read once at this
    speed: `max_speedup_without_generation` (wall / prompt time) bounds what fewer generated tokens can buy."""
    spent = {"prompt eval": [0.0, 0], "eval": [0.0, 0]}
    for match in TIMING.finditer(log_text):
        spent[match.group(1)][0] += float(match.group(2)) / 1000
        spent[match.group(1)][1] += int(match.group(3))
    (prompt_s, prompt_n), (gen_s, gen_n) = spent["prompt eval"], spent["eval"]
    return {"prompt_eval_s": round(prompt_s, 1), "prompt_tokens_read": prompt_n,
            "prompt_tokens_per_s": round(prompt_n / prompt_s, 1) if prompt_s else None,
            "generation_s": round(gen_s, 1), "generated_tokens": gen_n,
            "generated_tokens_per_s": round(gen_n / gen_s, 1) if gen_s else None}  # fmt: skip


def child(arm: str, suite_name: str, work: Path) -> dict[str, Any]:
    """One arm over one suite's documents, in this process; its report as a dict."""
    from llm_extract.api import extract_batch
    from llm_extract.core.config import load_settings
    from llm_extract.evaluation.evaluate import evaluate_run
    from llm_extract.extraction.schema_loader import load_schema
    from llm_extract.providers.provider import documents_in_flight
    from llm_extract.scoring.suite import load_suite

    suite = load_suite(suite_name)
    prompt = PROMPTS.get(arm, {}).get(suite_name, suite.prompt)
    settings = load_settings(schema_name=suite.schema, prompt_name=prompt, **ARMS[arm])
    docs, gold = suite_inputs(suite_name, work)
    log = Path(settings.cache_dir) / "llama-server.log"
    log_start = log.stat().st_size if log.exists() else 0
    out = work / f"{arm}_{suite_name}.jsonl"
    started = time.monotonic()
    summary = extract_batch([docs], out, settings, overwrite=True)
    wall = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the server, stopped and waited for
    with log.open("rb") as handle:
        handle.seek(log_start)
        log_text = handle.read().decode("utf-8", "replace")
    stats = summary.stats
    articles = sum(stats.statuses.values())
    spec = load_schema(settings.schema_name)
    report = evaluate_run(suite, out, spec.list_field, gold_path=gold, shape=spec.json_schema)
    return {
        "arm": arm, "suite": suite_name, "documents": articles,
        "settings": {"prompt": settings.prompt_name, "concurrency (slots)": documents_in_flight(settings),
                     "local_speculation": settings.local_speculation,
                     "threads": settings.local_threads or os.cpu_count()},
        "wall_s": round(wall, 1),
        "articles_per_hour": round(articles / wall * 3600, 1),
        "seconds_per_article": round(wall / articles, 1),
        "generated_tokens_per_article": round(stats.usage.completion_tokens / articles, 1),
        "prompt_tokens_per_article": round(stats.usage.prompt_tokens / articles, 1),
        "reasks": stats.reasks, "statuses": dict(stats.statuses),
        "speculation": speculation(log_text),
        "server_time": (timing := server_time(log_text)),
        "max_speedup_without_generation": round(wall / timing["prompt_eval_s"], 2) if timing["prompt_eval_s"] else None,
        "server_peak_rss_mib": round(peak_kib / 1024, 1),
        "eval": {name: report.metrics.get(name) for name in TRACKED[suite_name]},
        "run": str(out),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", default="seeds,muc4", help="comma-separated: seeds, muc4")
    parser.add_argument("--arms", default="before,after", help="comma-separated: before, after")
    parser.add_argument("--work", type=Path, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "local_model.json")
    parser.add_argument("--child", nargs=2, metavar=("ARM", "SUITE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-local-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], work)))
        return
    results = []
    for suite_name in args.suites.split(","):
        for arm in args.arms.split(","):
            if arm in PROMPTS and PROMPTS[arm].get(suite_name, "") is None:
                continue
            command = [sys.executable, __file__, "--child", arm, suite_name, "--work", str(work)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{arm} {suite_name}: {results[-1]['wall_s']} s", file=sys.stderr)
    by = {(r["arm"], r["suite"]): r for r in results}
    ratios: dict[str, dict[str, Any]] = {}
    for (arm, suite_name), result in by.items():
        before = by.get(("before", suite_name))
        if arm != "before" and before:
            ratios.setdefault(arm, {})[suite_name] = {
                "articles_per_hour": round(result["articles_per_hour"] / before["articles_per_hour"], 2),
                "generated_tokens_per_article": round(
                    result["generated_tokens_per_article"] / before["generated_tokens_per_article"], 2),
                "eval": {name: round(value - before["eval"][name], 4) for name, value in result["eval"].items()
                         if value is not None and before["eval"].get(name) is not None},
            }  # fmt: skip
    report = {
        "benchmark": "embedded model: the settings of 2026-12-02 (before) against other arms, same documents",
        "command": f"python bench/local_model.py --suites {args.suites} --arms {args.arms}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": os.getloadavg()[0]},
        "arms": {arm: {**ARMS[arm], "prompts": PROMPTS.get(arm, "the suites'")} for arm in args.arms.split(",")},
        "results": results,
        "over_before": ratios,  # articles/hour and tokens as ratios; eval figures as differences
    }
    text = json.dumps(report, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
