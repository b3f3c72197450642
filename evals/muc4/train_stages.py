"""Make what muc4_v1 and muc4_v4 learn from the MUC-4 training split: role lexicon, type and relevance models, examples.

    pip install "llm-extract[train]"   # scikit-learn, for the relevance model only
    .venv/bin/python evals/muc4/train_stages.py [--source ../shared/data/muc4/train.jsonl]

Writes schemas/muc4_v1.roles.json (src/llm_extract/extraction/roles.py), schemas/muc4_v1.types.json
(extraction/record_type.py), schemas/muc4_v1.relevance.json (extraction/relevance.py) and
prompts/muc4_v4.examples.jsonl (extraction/examples.py: the training texts of at most POOL_CHARS characters with
their keys as answers, one mention per entity, within the schema's bounds). Made from GTT's training split (1,300
MUC-3 development documents with their keys) less DEV-MUC3-0101 to 0200, which are kept back to check the stages on
documents they were not made from; no development (TST1, TST2) document is read except to store check values. The
parameters (min_count, share, threshold, C, min_df, the type model's window) were chosen on TST1 and confirmed on
TST2 (docs/results.md). Same bytes every run.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from llm_extract.extraction.classifier import export_classifier
from llm_extract.extraction.record_type import record_text
from llm_extract.extraction.roles import head_word

ROOT = Path(__file__).resolve().parents[2]
HELD_OUT = {f"DEV-MUC3-{number:04d}" for number in range(101, 201)}
ROLES = ("PerpInd", "PerpOrg", "Target", "Victim", "Weapon")
SOURCE_NAME = "MUC-4 training"
MIN_COUNT, SHARE = 5, 0.8
THRESHOLD, C, MIN_DF = 0.5, 4.0, 3
TYPE_WINDOW, TYPE_THRESHOLD, TYPE_MIN_DF = 50, 0.5, 2
POOL_CHARS = 1500  # a retrieved example costs its length in prompt tokens on every document it is shown with
BOUNDS = {"PerpInd": 4, "PerpOrg": 3, "Target": 5, "Victim": 6, "Weapon": 4}  # schemas/muc4_v1.py
MAX_TEMPLATES = 6
CHECK_DOCUMENTS = 8  # the first development documents, whose scikit-learn probabilities are stored for the test


def _mention(value: object) -> str:
    return value[0] if isinstance(value, list) else str(value)


def role_lexicon(documents: list[dict]) -> dict:
    heads: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for document in documents:
        for template in document["templates"]:
            for role in ROLES:
                for entity in template.get(role) or []:
                    for head in {head_word(_mention(mention)) for mention in entity} - {""}:
                        heads[head][role] += 1
    return {
        "source_name": SOURCE_NAME,
        "made_by": "evals/muc4/train_stages.py",
        "documents": len(documents),
        "min_count": MIN_COUNT,
        "share": SHARE,
        "place_free": ["PerpInd", "Target", "Victim"],
        "heads": {head: dict(sorted(counts.items())) for head, counts in sorted(heads.items())},
    }


def example_pool(documents: list[dict]) -> list[dict]:
    """Each short training text with its key as the answer muc4_v1 asks for."""
    pool = []
    for document in documents:
        if len(document["text"]) > POOL_CHARS or len(document["templates"]) > MAX_TEMPLATES:
            continue
        templates = [
            {"incident_type": template["incident_type"].split(" / ")[0]}
            | {role: fillers[: BOUNDS[role]] for role, fillers in _record(template).items()}
            for template in document["templates"]
        ]
        pool.append({"id": document["doc_id"], "text": document["text"], "answer": {"templates": templates}})
    return pool


def relevance_model(documents: list[dict], checks: list[dict]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(min_df=MIN_DF, sublinear_tf=True)
    features = vectorizer.fit_transform([document["text"] for document in documents])
    labels = [1 if document["templates"] else 0 for document in documents]
    model = LogisticRegression(C=C, max_iter=5000).fit(features, labels)
    probabilities = model.predict_proba(vectorizer.transform([check["text"] for check in checks]))[:, 1]
    return export_classifier(
        vectorizer,
        model,
        source_name=SOURCE_NAME,
        made_by=f"evals/muc4/train_stages.py (scikit-learn TfidfVectorizer(min_df={MIN_DF}, sublinear_tf=True), "
        f"LogisticRegression(C={C}))",
        documents=len(documents),
        with_records=sum(labels),
        threshold=THRESHOLD,
        checks={check["id"]: round(float(p), 6) for check, p in zip(checks, probabilities, strict=True)},
    )


def _record(template: dict) -> dict:
    """A key's template as the model would answer it: one mention per entity (the first)."""
    return {role: [_mention(entity[0]) for entity in template.get(role) or []] for role in ROLES}


def type_model(documents: list[dict], checks: list[dict]) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    pairs = [(template, document["text"]) for document in documents for template in document["templates"]]
    texts = [record_text(_record(template), ROLES, text, TYPE_WINDOW) for template, text in pairs]
    labels = [template["incident_type"].split(" / ")[0] for template, _ in pairs]
    vectorizer = TfidfVectorizer(min_df=TYPE_MIN_DF, sublinear_tf=True)
    model = LogisticRegression(C=C, max_iter=5000).fit(vectorizer.fit_transform(texts), labels)
    stored = []
    for check in checks:
        features = vectorizer.transform([record_text(check["record"], ROLES, check["text"], TYPE_WINDOW)])
        probabilities = dict(zip(model.classes_, model.predict_proba(features)[0], strict=True))
        stored.append({"doc_id": check["doc_id"], "record": check["record"]}
                      | {"probabilities": {str(k): round(float(v), 6) for k, v in probabilities.items()}})  # fmt: skip
    return export_classifier(
        vectorizer,
        model,
        source_name=SOURCE_NAME,
        made_by=f"evals/muc4/train_stages.py (record_text with window {TYPE_WINDOW}; scikit-learn "
        f"TfidfVectorizer(min_df={TYPE_MIN_DF}, sublinear_tf=True), LogisticRegression(C={C}))",
        templates=len(pairs),
        window=TYPE_WINDOW,
        threshold=TYPE_THRESHOLD,
        checks=stored,
    )


def _dump(data: dict) -> str:
    """Indented JSON with one line per word of a classifier's vocabulary or head of the lexicon (diffable, compact)."""
    table = "terms" if "terms" in data else "heads"
    rows = data[table]
    head = json.dumps({key: value for key, value in data.items() if key != table}, indent=1, ensure_ascii=False)
    lines = [
        f" {json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}"
        for key, value in rows.items()
    ]
    return head[:-2] + f',\n "{table}": {{\n' + ",\n".join(lines) + "\n }\n}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT.parent / "shared" / "data" / "muc4" / "train.jsonl")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "schemas", help="where the two JSON files go")
    parser.add_argument("--pool-dir", type=Path, default=ROOT / "prompts", help="where the example pool goes")
    args = parser.parse_args()
    lines = args.source.read_text(encoding="utf-8").splitlines()
    documents = [d for d in map(json.loads, lines) if d["doc_id"] not in HELD_OUT]
    development = [json.loads(line) for line in (ROOT / "evals/muc4/docs.jsonl").read_text().splitlines()]
    checks = development[:CHECK_DOCUMENTS]
    keys = [json.loads(line) for line in (ROOT / "evals/muc4/gold.jsonl").read_text().splitlines()]
    texts = {document["id"]: document["text"] for document in development}
    typed = [{"doc_id": key["doc_id"], "text": texts[key["doc_id"]], "record": _record(template)}
             for key in keys for template in key["templates"]][:CHECK_DOCUMENTS]  # fmt: skip
    made = (("roles", role_lexicon(documents)), ("types", type_model(documents, typed)),
            ("relevance", relevance_model(documents, checks)))  # fmt: skip
    for name, data in made:
        path = args.out_dir / f"muc4_v1.{name}.json"
        text = _dump(data)
        path.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {path}")
    pool = args.pool_dir / "muc4_v4.examples.jsonl"
    pool.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in example_pool(documents)))
    print(f"wrote {pool}")


if __name__ == "__main__":
    main()
