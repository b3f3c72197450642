"""The review page: one self-contained HTML file to check a stored run against its articles.

Each article is shown with the values the model copied from it highlighted where grounding located
them (coloured by field), the incident cards beside it, ungrounded and low-confidence values flagged,
and, when a suite's gold is given, what the scorer marked right and wrong. The page needs no network:
styles and the small script are inline, and the data behind the highlights is embedded as JSON
(`<script id="review-data">`), so a test can check every highlight against its offsets.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from llm_extract.core.paths import generic_path, get_path, path_of
from llm_extract.core.text import text_sha256
from llm_extract.evaluation.eval_report import EvalReport
from llm_extract.evaluation.evaluate import evaluate_run
from llm_extract.extraction.annotate import annotate
from llm_extract.extraction.schema_loader import SchemaSpec
from llm_extract.inputs.documents import Document, iter_inputs
from llm_extract.review.labels import field_label, value_text
from llm_extract.runs.runline import RunLine
from llm_extract.runs.store import read_manifest, read_run
from llm_extract.scoring.suite import Suite

PALETTE = ("#fde68a", "#bfdbfe", "#bbf7d0", "#fecaca", "#ddd6fe", "#fbcfe8", "#a5f3fc", "#fed7aa", "#d9f99d",
           "#e9d5ff", "#c7d2fe", "#fef08a", "#99f6e4")  # fmt: skip
TITLE_KEYS = ("incident_type", "sub_event_type", "role")
_PROBLEM = re.compile(r"^- (?P<where>\S+?): (?P<message>.*)$", re.M)  # a line of extract.describe_failure
NO_TEXT = ("the article's text was not found: give the article files or folders with --docs PATH, "
           "or the suite whose documents they are with --suite NAME")  # fmt: skip
_MARK = {"correct": "✓", "partial": "½", "wrong": "✗", "spurious": "+", "missed": "−", "empty": ""}


@dataclass
class Segment:
    text: str
    spans: list[int]  # ids of the located values covering this stretch of text
    field: str | None  # the field whose colour it takes: the innermost (shortest) covering value's


@dataclass
class Card:
    index: int
    title: str
    rows: list[dict[str, Any]]  # field, value, grounding status and score, span id
    normalized: list[dict[str, Any]]
    flags: list[dict[str, Any]]  # kind, level ("ungrounded" or "low"), field, message, measured precision
    gold: dict[str, Any] | None = None  # verdict and rows against gold, when gold is given


@dataclass
class ReviewDocument:
    doc_id: str
    status: str
    error: str | None
    origin: str | None
    text: str | None
    text_problem: str | None
    anchor: dict[str, Any] | None
    segments: list[Segment] = field(default_factory=list)
    spans: list[dict[str, Any]] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    missed: list[dict[str, Any]] = field(default_factory=list)  # gold incidents no prediction matched
    reasks: int = 0
    answer: dict[str, Any] | None = None  # an invalid document's last answer as cards, its bad fields marked


def field_key(path: str, list_field: str) -> str:
    """'incidents[0].location.site' -> 'location.site'; 'incidents[0].evidence[2]' -> 'evidence'."""
    generic = generic_path(path).removeprefix(f"{list_field}[].")
    return generic.replace("[]", "")


def segments_of(text: str, spans: list[dict[str, Any]]) -> list[Segment]:
    """Cut the text at every span boundary; each piece knows which spans cover it (they may nest or overlap)."""
    cuts = sorted({0, len(text), *(s["start"] for s in spans), *(s["end"] for s in spans)})
    segments: list[Segment] = []
    for start, end in itertools.pairwise(cuts):
        covering = [s for s in spans if s["start"] <= start and end <= s["end"]]
        ids = [s["id"] for s in covering]
        innermost = min(covering, key=lambda s: s["end"] - s["start"])["field"] if covering else None
        if segments and segments[-1].spans == ids:
            segments[-1].text += text[start:end]
        else:
            segments.append(Segment(text[start:end], ids, innermost))
    return segments


def _leaves(node: Any, path: str) -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list) and node and all(isinstance(item, dict | list) for item in node):
        for index, item in enumerate(node):
            yield from _leaves(item, f"{path}[{index}]")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield f"{path}[{index}]", item
        if not node:
            yield path, []
    else:
        yield path, node


def _range(low: int | None, high: int | None) -> str:
    """A count range for people: '0', '1 or more', 'up to 7', '10–15', 'unknown'."""
    if low is None and high is None:
        return "unknown"
    if high is None:
        return f"{low} or more"
    if low is None:
        return f"up to {high}"
    return str(low) if low == high else f"{low}–{high}"


Row = dict[str, Any]
Flag = dict[str, Any]  # kind, level, field (its path in the record), message; precision and measured once ranked

# What each flag says, and how loud it is ("ungrounded": the value is not in the article at all).
FLAG_KINDS = {
    "not_in_article": ("ungrounded", "the value is not in the article"),
    "fuzzy_match": ("low", "the value is in the article only as a fuzzy match"),
    "date_words": ("low", "the date is not what the article's date words mean"),
    "country_conflict": ("low", "the country is not the one the place names name"),
    "casualty_words": ("low", "the count is not what the article's casualty words say"),
}
FLAG_RANKS = "flag_ranks.json"  # measured by bench/flags.py on the suites' gold


def _flag(kind: str, where: str, message: str) -> Flag:
    return {"kind": kind, "level": FLAG_KINDS[kind][0], "field": where, "message": message}


@functools.cache
def _measured() -> dict[str, Any]:
    return dict(json.loads(resources.files("llm_extract.review").joinpath(FLAG_RANKS).read_text(encoding="utf-8")))


def flag_ranks() -> dict[str, dict[str, Any]]:
    """kind -> {"precision", "errors", "scored", "flagged", ...}: how often each kind of flag marked a value the
    gold says is wrong or spurious, over the suites' stored runs (bench/flags.py writes the file)."""
    return dict(_measured()["kinds"])


def flag_base_rate() -> dict[str, Any] | None:
    """The same figures for every value, flagged or not: what a flag's precision is to be read against."""
    return _measured().get("every value")


def ranked(flags: list[Flag]) -> list[Flag]:
    """The flags with their measured precision and a sentence saying it, most often right first (a kind not
    measured, or never scored, last: nothing says it helps)."""
    ranks = flag_ranks()
    out = []
    for flag in flags:
        rank = ranks.get(flag["kind"]) or {}
        precision = rank.get("precision")
        if precision is None:
            measured = "not measured on the suites"
        else:
            measured = (f"marks a real error {round(precision * 10)} times in 10 on the suites "
                        f"({rank['errors']} of {rank['scored']} scored values)")  # fmt: skip
        out.append({**flag, "precision": precision, "measured": measured})
    return sorted(out, key=lambda flag: -1.0 if flag["precision"] is None else -flag["precision"])


def _date_view(where: str, result: dict[str, Any], incident: dict[str, Any]) -> tuple[Row, list[Flag]]:
    resolved = result["status"] == "resolved"
    same_day = result["start"] == result["end"]
    shown = (result["start"] if same_day else f"{result['start']} – {result['end']}") if resolved else "unresolved"
    row = {"field": where, "value": f"{shown} ({result['precision']})", "note": result["reason"]}
    given = get_path(incident, f"{where}.start")
    if given and resolved and not (result["start"] <= given <= result["end"]):
        message = f"{field_label(where + '.start')} {given} is not what “{result['text']}” means ({shown})"
        return row, [_flag("date_words", f"{where}.start", message)]
    return row, []


def _country_view(where: str, result: dict[str, Any], _incident: dict[str, Any]) -> tuple[Row, list[Flag]]:
    shown = f"{result['code']} {result['name']}" if result["code"] else "unresolved"
    row = {"field": where + ".country", "value": shown, "note": f"from {result['source']}"}
    if result["conflict"]:
        named = ", ".join(result["named_in_places"])
        message = f"country {result['code']} but the place names name {named}"
        return row, [_flag("country_conflict", f"{where}.country", message)]
    return row, []


def _casualties_view(where: str, result: dict[str, Any], _incident: dict[str, Any]) -> tuple[Row, list[Flag]]:
    shown = "unknown" if result["status"] == "unresolved" else _range(result["min"], result["max"])
    row = {"field": where, "value": shown, "note": f"rule {result['rule']}: {result['text']!r}"}
    if result["agrees"] is False:
        model = _range(result["model"]["min"], result["model"]["max"])
        message = f"{field_label(where)}: the model says {model}, the words “{result['text']}” say {shown}"
        return row, [_flag("casualty_words", where, message)]
    return row, []


# One view per normaliser (annotate.NORMALIZERS): the schema's NORMALIZED_FIELDS says which applies where.
NORMALIZED_VIEWS = {"date": _date_view, "country": _country_view, "casualties": _casualties_view}


def _normalized_rows(
    prefix: str, normalized: dict[str, Any], incident: dict[str, Any], kinds: dict[str, str]
) -> tuple[list[Row], list[Flag]]:
    """Readable normalisation results of one incident, and the flags they raise."""
    rows: list[Row] = []
    flags: list[Flag] = []
    for path, result in normalized.items():
        if not path.startswith(prefix + "."):
            continue
        where = path.removeprefix(prefix + ".")
        row, raised = NORMALIZED_VIEWS[kinds[generic_path(where)]](where, result, incident)
        rows.append(row | {"label": field_label(row["field"])})
        flags += raised
    return rows, flags


def _gold_row(path: str, pred: Any, gold: Any, mark: str, many: bool = True) -> Row:
    """One scored field beside its gold, as text: a list field's items by '; ', a gold value's accepted
    spellings by ' / '."""
    return {"field": path, "label": field_label(path), "pred": value_text(pred, many), "gold": value_text(gold, many),
            "mark": mark}  # fmt: skip


def _gold_views(report: EvalReport) -> dict[str, dict[str, Any]]:
    """doc_id -> {"pairs": {pred_index: view}, "missed": [view]}, from the suite's own scorer's report."""
    views: dict[str, dict[str, Any]] = {}
    for document in report["documents"]:
        pairs: dict[int, dict[str, Any]] = {}
        missed: list[dict[str, Any]] = []
        if report["profile"] == "gtt":
            for pair in document["pairs"]:
                rows = [_gold_row("incident_type", pair["incident_type"][0], pair["incident_type"][1], "✓")]
                rows += [
                    _gold_row(e["role"], e["pred"][0], "", "✓" if e["correct"] else "✗") for e in pair["predicted"]
                ]
                rows += [_gold_row(e["role"], "", e["gold"], "−", many=False) for e in pair["gold"] if not e["found"]]
                pairs[pair["pred_index"]] = {"verdict": f"matches gold template {pair['gold_index'] + 1}", "rows": rows}
            for item in document["missed"]:
                rows = [_gold_row("incident_type", None, item["incident_type"], "")]
                rows += [_gold_row(e["role"], None, e["gold"], "", many=False) for e in item["gold"]]
                missed.append({"title": f"gold template {item['gold_index'] + 1}", "rows": rows})
        else:
            for pair in document["pairs"]:
                rows = [_gold_row(f["field"], f["pred"], f["gold"], _MARK[f["verdict"]], many="[]" in f["field"])
                        for f in pair["fields"] if f["verdict"] != "empty"]  # fmt: skip
                pairs[pair["pred_index"]] = {"verdict": f"matches gold {pair['gold_id']}", "rows": rows}
            for item in document["missed"]:
                rows = [_gold_row(f["field"], None, f["gold"], "", many="[]" in f["field"])
                        for f in item["fields"] if f["verdict"] != "empty"]  # fmt: skip
                missed.append({"title": f"gold {item['gold_id']}", "rows": rows})
        views[document["doc_id"]] = {"pairs": pairs, "missed": missed}
    return views


def _document_texts(paths: list[Path]) -> dict[str, Document]:
    return {item.id: item for item in iter_inputs(paths) if isinstance(item, Document)}


def _row(path: str, value: Any) -> Row:
    return {"field": path, "label": field_label(path), "value": value, "text": value_text(value)}


def _title(incident: Any, index: int) -> str:
    """'main · attack': the record's kind in words, else its number."""
    keys = [value_text(incident[key]).replace("_", " ") for key in TITLE_KEYS
            if isinstance(incident, dict) and incident.get(key)]  # fmt: skip
    return " · ".join(keys) or f"record {index + 1}"


def validation_problems(error: str | None) -> list[tuple[str, str]]:
    """(concrete path, message) for each problem a validation error names: '- incidents.0.date: ...' (pydantic's
    location) or '- incidents[0].weapons[1].text: ...' (grounding's path) -> 'incidents[0].date'."""
    problems = []
    for match in _PROBLEM.finditer(error or ""):
        parts = [part for part in re.split(r"[.\[\]]+", match["where"]) if part and part != "(root)"]
        problems.append((path_of(tuple(int(p) if p.isdigit() else p for p in parts)), match["message"]))
    return problems


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def answer_view(last_output: str | None, error: str | None, list_field: str) -> dict[str, Any] | None:
    """The model's last (rejected) answer as record cards, each field the validation error names marked with its
    message; an answer that is not JSON, or has no list of records, is shown as it is with the reason."""
    if last_output is None:
        return None
    problems = validation_problems(error)
    try:
        data = json.loads(last_output)
    except json.JSONDecodeError as exc:
        return {"cards": [], "raw": last_output, "note": f"the answer is not JSON ({exc.msg} at position {exc.pos})",
                "problems": [{"label": field_label(p), "message": m} for p, m in problems]}  # fmt: skip
    items = data.get(list_field) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return {"cards": [], "raw": last_output, "note": f"the answer has no list of records ('{list_field}')",
                "problems": [{"label": field_label(p), "message": m} for p, m in problems]}  # fmt: skip
    cards, placed = [], set()
    for index, item in enumerate(items):
        prefix = f"{list_field}[{index}]"
        rows = []
        for path, value in _leaves(item, "") if isinstance(item, dict) else [("", item)]:
            where = f"{prefix}.{path}" if path else prefix
            marked = [n for n, (p, _) in enumerate(problems)
                      if p != prefix and (_within(where, p) or _within(p, where))]  # fmt: skip
            placed.update(marked)
            rows.append(_row(path, value) | {"problems": [problems[n][1] for n in marked]})
        own = [n for n, (p, _) in enumerate(problems) if p == prefix]
        placed.update(own)
        cards.append({"index": index, "title": _title(item, index), "rows": rows,
                      "problems": [problems[n][1] for n in own]})  # fmt: skip
    rest = [{"label": field_label(p) or "the answer", "message": m} for n, (p, m) in enumerate(problems)
            if n not in placed]  # fmt: skip
    return {"cards": cards, "raw": None, "note": None, "problems": rest}


def review_document(
    line: RunLine, document: Document | None, spec: SchemaSpec, gold: dict[str, Any] | None
) -> ReviewDocument:
    """One article's part of the page: text cut into highlighted segments, and its incident cards."""
    list_field = spec.list_field
    view = ReviewDocument(line.doc_id, line.status, line.error, line.origin, None, None, line.anchor,
                          reasks=line.reasks)  # fmt: skip
    items = (line.items or []) if line.list_field == list_field else []
    if document is None:
        view.text_problem = NO_TEXT
    elif line.text_sha256 and text_sha256(document.text) != line.text_sha256:
        view.text_problem = "the article's text has changed since the run: highlights are not shown"
    else:
        view.text = document.text
    # Runs stored before grounding existed are annotated here, from the same text.
    annotated = line if line.grounded or document is None else line.with_annotations(annotate(items, document, spec))
    view.anchor = annotated.anchor
    by_path: dict[str, dict[str, Any]] = {}
    for stored in annotated.grounding or []:
        page_span = {**stored.as_dict(), "field": field_key(stored.path, list_field)}
        if view.text is not None and stored.start is not None:
            page_span["id"] = len(view.spans)
            view.spans.append(page_span)
        by_path[stored.path] = page_span
    if view.text is not None:
        view.segments = segments_of(view.text, view.spans)
    normalized = annotated.normalized or {}
    for index, incident in enumerate(items):
        prefix = f"{list_field}[{index}]"
        rows, flags = [], []
        for path, value in _leaves(incident, ""):
            span = by_path.get(f"{prefix}.{path}")
            rows.append(_row(path, value) | {"span": span})
            if span is not None and span["status"] == "not_found":
                message = f"{field_label(path)}: “{value_text(value)}” is not in the article"
                flags.append(_flag("not_in_article", path, message))
            elif span is not None and span["status"] == "fuzzy":
                message = f"{field_label(path)}: only a fuzzy match ({span['score']:.0f}/100)"
                flags.append(_flag("fuzzy_match", path, message))
        normalized_rows, normalized_flags = _normalized_rows(prefix, normalized, incident, dict(spec.normalized_fields))
        card = Card(index, _title(incident, index), rows, normalized_rows, ranked(flags + normalized_flags))
        if gold is not None:
            card.gold = gold["pairs"].get(index, {"verdict": "spurious: no gold incident matches it", "rows": []})
        view.cards.append(card)
    if gold is not None:
        view.missed = gold["missed"]
    if not line.ok:
        view.answer = answer_view(line.last_output, line.error, list_field)
    return view


def build_review(
    run_path: Path,
    spec: SchemaSpec,
    documents: list[Path] | None = None,
    suite: Suite | None = None,
    report: EvalReport | None = None,
) -> dict[str, Any]:
    """Everything the page shows. Texts come from `documents`, else the suite's, else the run's own inputs.
    With a suite, the run is scored against its gold, unless the caller already has that `report`."""
    # A missing or empty run raises; a malformed line is named by its number and left out, never fatal.
    lines = read_run(run_path, spec.list_field, spec.json_schema)
    records = lines.records
    manifest = read_manifest(run_path) or {}
    manifest = manifest if isinstance(manifest, dict) else {}
    if documents is None:
        documents = [suite.documents] if suite is not None else [Path(p) for p in manifest.get("inputs", [])]
    texts = _document_texts(documents)
    if suite is not None and report is None:
        report = evaluate_run(suite, run_path, spec.list_field, shape=spec.json_schema)
    gold = _gold_views(report) if report is not None else None
    views = [
        review_document(line, texts.get(line.doc_id), spec, None if gold is None else gold.get(line.doc_id))
        for line in records
    ]
    fields = [field_key(f"{spec.list_field}[0].{path}", spec.list_field) for path in spec.grounded_fields]
    return {
        "run": str(run_path),
        "manifest": manifest,
        "torn_lines": len(lines.problems),
        "warnings": lines.warnings(),
        "suite": suite.name if suite is not None else None,
        "documents": views,
        "colours": {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(fields))},
        "legend": {name: field_label(name) for name in dict.fromkeys(fields)},
        "counts": {s: sum(1 for v in views if v.status == s) for s in ("ok", "invalid", "error")},
        "flag_base": flag_base_rate(),
    }


def embedded_json(data: Any) -> str:
    """JSON safe inside <script>: with no '<' at all, an article's `<!--<script>` or `</script>` cannot end the
    block or put the parser in its script-data-escaped state (which swallowed the page's own script)."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def template_environment() -> jinja2.Environment:
    """The review package's templates, every value escaped and a missing name an error (one setup for the review
    page, the comparison page and the workbench)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("llm_extract.review", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_review(page: dict[str, Any]) -> str:
    environment = template_environment()
    data = [
        {"doc_id": d.doc_id, "text": d.text, "spans": [{k: s[k] for k in ("id", "path", "field", "start", "end",
         "status", "quote")} for s in d.spans]}
        for d in page["documents"]
    ]  # fmt: skip
    embedded = embedded_json(data)
    return environment.get_template("review.html.j2").render(page=page, data_json=embedded)


def write_review(
    run_path: Path, output: Path, spec: SchemaSpec, documents: list[Path] | None = None, suite: Suite | None = None
) -> dict[str, Any]:
    """Build and write the page; returns what it showed (for a summary line)."""
    page = build_review(run_path, spec, documents, suite)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_review(page), encoding="utf-8")
    return page
