"""How many fillers of a stored MUC-4 run do not occur in their text, by the muc4_v1 schema's own check.

With --filtered OUT, also writes the run with those fillers removed (and its manifest beside it), so that
`llm-extract eval muc4 --run OUT` shows what dropping them, without re-asking the model, would score.
A document that ended invalid because its last answer still had such fillers after the re-asks is
salvaged the same way: its last answer, kept in the record, with those fillers removed.
No model is called.

    .venv/bin/python evals/muc4/grounding.py runs/muc4/A.jsonl --filtered runs/muc4/A_filtered.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from llm_extract.core.constants import MUC_ROLES as ROLES
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document, iter_inputs
from llm_extract.runs.store import manifest_path_for, read_lines

SUITE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--docs", type=Path, default=SUITE / "docs.jsonl")
    parser.add_argument("--filtered", type=Path)
    args = parser.parse_args()
    model = load_schema("muc4_v1").response_model
    texts = {d.id: d.text for d in iter_inputs([args.docs]) if isinstance(d, Document)}

    def grounded(text: str, template: dict, role: str, span: str) -> bool:
        probe = {**template, **{r: [] for r in ROLES}, role: [span]}
        try:
            model.model_validate({"templates": [probe]}, context={"source_text": text})
        except ValidationError:
            return False
        return True

    records = [line.to_dict() for line in read_lines(args.run)[0]]  # rewritten below, as stored JSON
    counts: Counter[str] = Counter()
    ungrounded: Counter[str] = Counter()
    filtered = []
    for record in records:
        if record["status"] == "invalid" and record.get("last_output"):
            try:
                record["templates"] = model.model_validate_json(record["last_output"]).model_dump(mode="json")[
                    "templates"
                ]
            except ValidationError:
                pass  # not a grounding failure: the document stays invalid
            else:
                record["status"], record["error"] = "ok", None
                counts["salvaged invalid documents"] += 1
        if record["status"] == "ok":
            bad_document = False
            for template in record["templates"]:
                for role in ROLES:
                    kept = [s for s in template[role] if grounded(texts[record["doc_id"]], template, role, s)]
                    counts["fillers"] += len(template[role])
                    counts["ungrounded"] += len(template[role]) - len(kept)
                    ungrounded.update(s.lower() for s in template[role] if s not in kept)
                    bad_document |= len(kept) < len(template[role])
                    template[role] = kept
            counts["documents with an ungrounded filler"] += bad_document
            counts["ok documents"] += 1
        filtered.append(record)
    print(json.dumps({
        "run": str(args.run), **counts, "most_common_ungrounded": ungrounded.most_common(8),
        "command": f".venv/bin/python evals/muc4/grounding.py {args.run}"
        + (f" --filtered {args.filtered}" if args.filtered else ""),
    }, indent=2))  # fmt: skip
    if args.filtered:
        args.filtered.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in filtered))
        if manifest_path_for(args.run).exists():
            shutil.copy(manifest_path_for(args.run), manifest_path_for(args.filtered))


if __name__ == "__main__":
    main()
