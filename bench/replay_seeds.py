"""Score a prompt on the seed suite from a stored cassette recording, with today's pipeline, gold and scorer.

Used for the prompt-history rows measured under the gold and scorer of 2026-12: an older prompt's recording
(with the schema file the recording was made with, since the request body carries the schema) replays through
vcrpy; nothing reaches a model. Prints the statuses and headline metrics. Example (incident_v1's row):

  git show 73bc3b5:tests/cassettes/local_model.yaml > /tmp/v1.yaml
  git show 73bc3b5:schemas/incident_v1.py > /tmp/incident_v1_old.py
  .venv/bin/python bench/replay_seeds.py incident_v1 /tmp/v1.yaml /tmp/v1-replay --schema /tmp/incident_v1_old.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import REPLAY_BASE_URL, cassette_vcr

from llm_extract.api import evaluate_suite
from llm_extract.core.config import load_settings
from llm_extract.scoring.suite import load_suite

HEADLINE = ("incidents.precision", "incidents.recall", "incidents.f1", "fields.micro.precision",
            "fields.micro.recall", "fields.micro.f1", "fields.matched.f1")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prompt")
    parser.add_argument("cassette")
    parser.add_argument("out", type=Path)
    parser.add_argument("--schema", default="incident_v1")
    args = parser.parse_args()
    os.environ["LLM_EXTRACT_PREFLIGHT"] = "false"
    with cassette_vcr("none").use_cassette(args.cassette, allow_playback_repeats=True):
        settings = load_settings(
            base_url=REPLAY_BASE_URL, model="local", cache_dir=args.out / "cache", preflight=False,
            prompt_name=args.prompt, schema_name=args.schema, max_retries=0,
        )  # fmt: skip
        outcome = evaluate_suite(load_suite("seeds"), settings, out_dir=args.out)
    metrics = outcome.report.metrics
    print(json.dumps({"statuses": outcome.report.run.statuses, **{k: metrics[k] for k in HEADLINE}}))


if __name__ == "__main__":
    main()
