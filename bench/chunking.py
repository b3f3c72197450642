"""Long documents on the embedded model: extracted in chunks under a small context, against whole under a large one.

Prints JSON (and writes it to --out). Rerun with:  .venv/bin/python bench/chunking.py

Texts (the same for both arms):
- MUC-4 texts: `--groups` texts of `--per-text` documents of the muc4-incidents suite joined by a blank line
  (documents with one to three gold incidents and 1,500 to 3,500 characters, in suite order), with their gold
  incidents joined likewise, so each text is scored against the gold of the documents it holds;
- a PDF report excerpt (no gold): pages `--pdf-pages` of tests/data/formats/pdf/ssi_manwaring.pdf (a 1999 U.S. Army
  War College anthology on armed forces in the Americas), read by the PDF input; absent if the file is.

Arms, each through `extract_batch` in a child process of its own (one embedded server at a time; concurrency 1;
no response cache): `chunked` with local_ctx 4096 (every text is longer than one prompt, so it is chunked) and
`whole` with local_ctx 16384 (every text fits). Reported per arm: wall seconds, per text its status, incidents
found, chunks and seconds, and for the MUC-4 texts the muc4-incidents suite's scores against their joined gold.
A rerun on the same --work resumes: texts already done are not redone (`resumed`; their seconds stay on the line).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = "muc4-incidents"
ARMS: dict[str, dict[str, Any]] = {"chunked": {"local_ctx": 4096}, "whole": {"local_ctx": 16384}}
PDF = ROOT / "tests" / "data" / "formats" / "pdf" / "ssi_manwaring.pdf"
TRACKED = ("incidents.precision", "incidents.recall", "incidents.f1", "fields.micro.f1")


def muc4_texts(groups: int, per_text: int, work: Path) -> tuple[Path, Path]:
    """The joined MUC-4 texts (JSONL) and their joined gold."""
    from llm_extract.scoring.suite import load_suite

    suite = load_suite(SUITE)
    gold = {}
    for line in suite.gold_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            gold[entry["doc_id"]] = entry["incidents"]
    docs = [json.loads(line) for line in suite.documents.read_text(encoding="utf-8").splitlines() if line.strip()]
    chosen = [doc for doc in docs if 1 <= len(gold.get(doc["id"], [])) <= 3 and 1500 <= len(doc["text"]) <= 3500]
    texts, golds = [], []
    for number in range(groups):
        members = chosen[number * per_text : (number + 1) * per_text]
        text_id = "+".join(doc["id"] for doc in members)
        texts.append({"id": text_id, "text": "\n\n".join(doc["text"] for doc in members)})
        golds.append({"doc_id": text_id, "incidents": [incident for doc in members for incident in gold[doc["id"]]]})
    texts_path, gold_path = work / "muc4_texts.jsonl", work / "muc4_gold.jsonl"
    texts_path.write_text("".join(json.dumps(text) + "\n" for text in texts), encoding="utf-8")
    gold_path.write_text("".join(json.dumps(entry) + "\n" for entry in golds), encoding="utf-8")
    return texts_path, gold_path


def pdf_text(pages: str, work: Path) -> Path | None:
    """The PDF's pages `first-last` (from 1) as one JSONL document, or None without the PDF."""
    from llm_extract.inputs.documents import Document, iter_inputs

    if not PDF.exists():
        return None
    document = next(iter(iter_inputs([PDF])))
    assert isinstance(document, Document), document
    first, last = (int(page) for page in pages.split("-"))
    bounds = [*document.pages, len(document.text)]
    text = document.text[bounds[first - 1] : bounds[last]]
    path = work / "pdf_text.jsonl"
    path.write_text(json.dumps({"id": f"{PDF.stem}-p{pages}", "text": text}) + "\n", encoding="utf-8")
    return path


def child(arm: str, work: Path) -> dict[str, Any]:
    """One arm over every text, in this process; its report as a dict."""
    from llm_extract.api import extract_batch
    from llm_extract.core.config import load_settings
    from llm_extract.evaluation.evaluate import evaluate_run
    from llm_extract.extraction.schema_loader import load_schema
    from llm_extract.runs.store import read_run
    from llm_extract.scoring.suite import load_suite

    suite = load_suite(SUITE)
    settings = load_settings(schema_name=suite.schema, prompt_name=suite.prompt, concurrency=1, **ARMS[arm])
    spec = load_schema(settings.schema_name)
    report: dict[str, Any] = {"arm": arm, "settings": {"prompt": settings.prompt_name, **ARMS[arm],
                              "max_tokens": settings.max_tokens, "concurrency": 1}}  # fmt: skip
    for name in ("muc4", "pdf"):
        texts = work / ("muc4_texts.jsonl" if name == "muc4" else "pdf_text.jsonl")
        if not texts.exists():
            continue
        out = work / f"{arm}_{name}.jsonl"
        started = time.monotonic()
        summary = extract_batch([texts], out, settings)  # resumed: a text already done in --work is not redone
        wall = time.monotonic() - started
        lines = [line for _, line in read_run(out).numbered()]
        part: dict[str, Any] = {
            "wall_s": round(wall, 1),
            "resumed": summary.stats.resumed,  # texts done by an earlier invocation on --work: see their latency_s
            "statuses": dict(summary.stats.statuses),
            "texts": [
                {
                    "id": line.doc_id,
                    "status": line.status,
                    "incidents": len(line.records),
                    "error": line.error,
                    "prompt_tokens": line.usage.prompt_tokens,
                    "completion_tokens": line.usage.completion_tokens,
                    "attempts": line.attempts,
                    "latency_s": line.latency_s,
                    "chunks": [[chunk["start"], chunk["end"]] for chunk in line.chunks or []],
                    "merged_across_chunks": sum(1 for repeat in line.duplicates if "merged_into" in repeat),
                }
                for line in lines
            ],
            "run": str(out),
        }
        if name == "muc4":
            scored = evaluate_run(
                suite, out, spec.list_field, gold_path=work / "muc4_gold.jsonl", shape=spec.json_schema
            )
            gold_lines = (work / "muc4_gold.jsonl").read_text(encoding="utf-8").splitlines()
            part["gold_incidents"] = sum(len(json.loads(line)["incidents"]) for line in gold_lines if line.strip())
            part["eval"] = {metric: scored.metrics.get(metric) for metric in TRACKED}
        report[name] = part
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=2, help="MUC-4 texts")
    parser.add_argument("--per-text", type=int, default=3, help="MUC-4 documents joined per text")
    parser.add_argument("--pdf-pages", default="none", help="PDF pages first-last, e.g. 20-23; 'none': no PDF")
    parser.add_argument("--arms", default="chunked,whole")
    parser.add_argument("--work", type=Path, help="folder for the runs (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chunking.json")
    parser.add_argument("--child", metavar="ARM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-chunking-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(child(args.child, work)))
        return
    muc4_texts(args.groups, args.per_text, work)
    pdf = pdf_text(args.pdf_pages, work) if args.pdf_pages != "none" else None
    texts = [json.loads(line) for path in (work / "muc4_texts.jsonl", pdf) if path for line in path.open()]
    report: dict[str, Any] = {
        "benchmark": "long texts chunked under local_ctx 4096 against whole under local_ctx 16384, same model",
        "command": f"python bench/chunking.py --groups {args.groups} --per-text {args.per_text} "
        f"--pdf-pages {args.pdf_pages} --arms {args.arms}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": os.getloadavg()[0]},
        "texts": [{"id": text["id"], "characters": len(text["text"])} for text in texts],
        "results": [],
    }
    for arm in args.arms.split(","):
        command = [sys.executable, __file__, "--child", arm, "--work", str(work)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        report["results"].append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{arm}: done", file=sys.stderr)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")  # after each arm: a stopped bench keeps its arms
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
