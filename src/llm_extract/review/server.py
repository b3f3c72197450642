"""The review workbench: the review page made a local web app, so a reviewer's decisions are kept.

`llm-extract review RUN --serve` runs it with uvicorn on 127.0.0.1. The list of documents (counts, status,
flags, scores) is filtered and sorted on the server, so every view is a plain link; the document view is
review/page.py's article with its highlights and cards, with accept, reject, edit, add and note. Every
decision goes through CorrectionStore.add as a JSON POST; the run file is never written.

Writes are guarded twice, because any web page the reviewer opens can send requests to 127.0.0.1: a
per-process token the page carries (a cross-site page cannot read it) and an Origin header that must name
this server. The Host header must be one the server was bound to (DNS rebinding cannot read the pages).
"""

from __future__ import annotations

import copy
import ipaddress
import secrets
import threading
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import jinja2
import uvicorn
from markupsafe import Markup
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.paths import generic_path, loc_of, path_of
from llm_extract.evaluation.compare import compare_runs
from llm_extract.evaluation.evaluate import evaluate_run
from llm_extract.extraction.schema_loader import SchemaSpec
from llm_extract.inputs.documents import Document
from llm_extract.review.compare_page import render_compare
from llm_extract.review.corrections import (
    ACTIONS,
    Action,
    CorrectedLine,
    CorrectionError,
    CorrectionStore,
    Decision,
)
from llm_extract.review.gold import add_gold
from llm_extract.review.labels import field_label, value_text
from llm_extract.review.page import (
    ReviewDocument,
    build_review,
    embedded_json,
    review_document,
    template_environment,
)
from llm_extract.runs.runline import RunLine
from llm_extract.scoring.suite import Suite

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
SORTS = ("order", "doc", "status", "records", "flags", "score", "reviewed")
CSRF_HEADER = "x-csrf-token"


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Workbench:
    """What the app serves: the run as the page builder sees it, rebuilt when gold changes."""

    run: Path
    store: CorrectionStore
    spec: SchemaSpec
    documents: list[Path] | None
    suite: Suite | None
    who: str
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    page: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, RunLine] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)

    def load(self) -> None:
        """Read the run, build the review (highlights, cards, gold) and score each document against gold."""
        report = None
        if self.suite is not None:  # scored once: the page's gold verdicts and the list's scores
            report = evaluate_run(self.suite, self.run, self.spec.list_field, shape=self.spec.json_schema)
        self.page = build_review(self.run, self.spec, self.documents, self.suite, report)
        self.lines = {line.doc_id: line for line in self.store.lines()}
        self.scores = {}
        if report is not None:
            for scored in report.documents:
                overall = getattr(scored, "incidents", None) or getattr(scored, "micro", None)
                self.scores[scored.doc_id] = None if overall is None else overall.f1

    @property
    def views(self) -> dict[str, ReviewDocument]:
        return {view.doc_id: view for view in self.page["documents"]}

    @property
    def record_type(self) -> dict[str, Any]:
        """The JSON Schema of one record, with the schema's definitions beside it."""
        shape = self.spec.json_schema
        return {"item": shape["properties"][self.spec.list_field]["items"], "defs": shape.get("$defs", {})}


# ---- the schema-driven form: which input edits which field --------------------------------------------------


def _node(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A schema node with its $ref followed and a nullable anyOf opened: (the node, whether null is allowed)."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    options = schema.get("anyOf")
    if options is None:
        return schema, False
    kept = [option for option in options if option.get("type") != "null"]
    node, _ = _node(kept[0], defs) if len(kept) == 1 else (schema, False)
    return node, len(kept) < len(options)


def widget(record_type: dict[str, Any], path: str) -> dict[str, Any]:
    """The input for one field of a record ('perpetrators[0].attribution'): enum -> select, date -> date input,
    integer/number -> number input, boolean -> yes/no select, other values as text (JSON for lists/objects)."""
    defs = record_type["defs"]
    node, nullable = _node(record_type["item"], defs)
    for step in loc_of(path):
        if isinstance(step, int):
            node, nullable = _node(node.get("items", {}), defs)
        else:
            node, nullable = _node(node.get("properties", {}).get(step, {}), defs)
    kind = node.get("type")
    if "enum" in node:
        return {"kind": "enum", "options": node["enum"], "nullable": nullable}
    if kind == "string" and node.get("format") == "date":
        return {"kind": "date", "nullable": nullable}
    if kind in ("integer", "number", "boolean", "string"):
        return {"kind": kind, "nullable": nullable}
    return {"kind": "json", "nullable": nullable}


# ---- the document list: rows, filters, sort ----------------------------------------------------------------


def document_row(view: ReviewDocument, line: RunLine, score: float | None, reviewed: bool) -> dict[str, Any]:
    """One line of the list: what a reviewer triages by."""
    flags = [flag for card in view.cards for flag in card.flags]
    values = {row["field"]: row["value"] for card in view.cards for row in card.rows}
    return {
        "doc_id": view.doc_id,
        "status": view.status,
        "records": len(view.cards),
        "flags": len(flags),
        "flag_levels": sorted({flag["level"] for flag in flags}),
        "score": score,
        "reviewed": reviewed,
        "error": view.error,
        "values": values,
        "text": view.text or "",
        "title": line.extra("title") if isinstance(line.extra("title"), str) else None,
    }


def _matches(row: dict[str, Any], query: dict[str, str]) -> bool:
    status, flag, field_name = query.get("status", ""), query.get("flag", ""), query.get("field", "")
    text = query.get("q", "").casefold()
    if status == "reviewed" or status == "todo":
        if row["reviewed"] != (status == "reviewed"):
            return False
    elif status and row["status"] != status:
        return False
    if (flag == "none" and row["flags"]) or (flag == "any" and not row["flags"]):
        return False
    if flag not in ("", "any", "none") and flag not in row["flag_levels"]:
        return False
    # A field narrows to documents with a value there, and the text search to that field's values.
    values = {path: value for path, value in row["values"].items()
              if not field_name or generic_path(path).replace("[]", "") == field_name}  # fmt: skip
    if field_name and not any(value not in (None, [], "") for value in values.values()):
        return False
    if not text:
        return True
    haystack = [value_text(value) for value in values.values()]
    if not field_name:
        haystack += [row["doc_id"], row["text"], row["error"] or ""]
    return any(text in item.casefold() for item in haystack)


def list_rows(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """The rows the query's filters keep, in its sort order (`sort`, `desc`)."""
    kept = [row for row in rows if _matches(row, query)]
    sort = query.get("sort", "order")
    if sort in SORTS and sort != "order":
        key = "doc_id" if sort == "doc" else sort
        kept.sort(key=lambda row: (row[key] is None, row[key] if row[key] is not None else 0))
    if query.get("desc"):
        kept.reverse()
    return kept


# ---- decisions ----------------------------------------------------------------------------------------------


def _at(record: dict[str, Any], path: str) -> Any:
    """The value at a concrete path ('perpetrators[0].name'); KeyError, IndexError or TypeError when it is not."""
    node: Any = record
    for step in loc_of(path):
        node = node[step]
    return node


def _put(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = loc_of(path)
    node: Any = record
    for step in parents:
        node = node[step]
    node[leaf] = value


class Refused(LLMExtractError):
    """A request the workbench will not act on; the message says why (sent back as JSON with its status)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _validated(bench: Workbench, doc_id: str, record: dict[str, Any]) -> None:
    """The record as it would stand must still fit the run's schema (the model the extractor validated with)."""
    try:
        bench.spec.records_model.model_validate({bench.spec.list_field: [record]})
    except ValidationError as exc:
        problems = "; ".join(f"{path_of(tuple(e['loc'][2:])) or 'record'}: {e['msg']}" for e in exc.errors()[:3])
        raise Refused(f"{doc_id}: the record would not fit schema {bench.spec.name}: {problems}") from None


def _offsets(bench: Workbench, doc_id: str, value: Any, start: Any, end: Any) -> tuple[int | None, int | None]:
    """Offsets of a value picked in the article, checked against its text: they must cut out exactly the value."""
    if start is None and end is None:
        return None, None
    text = bench.views[doc_id].text
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
        raise Refused(f"{doc_id}: start and end must be character offsets with start < end")
    if text is None or text[start:end] != value:
        raise Refused(f"{doc_id}: the article's characters {start}-{end} are not {value!r}")
    return start, end


def _edit(bench: Workbench, doc_id: str, index: int, body: dict[str, Any]) -> Decision:
    """An edit of one field, checked on the record as the reviewer has it now; `before` is read here."""
    corrected = bench.store.corrected(bench.lines[doc_id])
    if index not in corrected.sources:
        raise Refused(f"{doc_id}: record {index + 1} is rejected or does not exist; accept it before editing")
    record = copy.deepcopy(corrected.line.records[corrected.sources.index(index)])
    path, value = body.get("path"), body.get("value")
    try:
        if not isinstance(path, str):
            raise TypeError(path)
        before = _at(record, path)
        _put(record, path, value)
    except (KeyError, IndexError, TypeError, ValueError):
        raise Refused(f"{doc_id}: record {index + 1} has no field {path!r}") from None
    _validated(bench, doc_id, record)
    start, end = _offsets(bench, doc_id, value, body.get("start"), body.get("end"))
    return bench.store.add(doc_id=doc_id, action="edit", who=bench.who, record_index=index, path=path,
                           before=before, after=value, start=start, end=end, note=body.get("note"))  # fmt: skip


def decide(bench: Workbench, body: dict[str, Any]) -> Decision:
    """Check one decision the page sent and store it; the store refuses what does not fit the run."""
    doc_id, action, index, note = body.get("doc_id"), body.get("action"), body.get("record_index"), body.get("note")
    if not isinstance(doc_id, str) or doc_id not in bench.lines:
        raise Refused(f"no document {doc_id!r} in {bench.run.name}", 404)
    if note is not None and not isinstance(note, str):
        raise Refused(f"{doc_id}: a note is text")
    if action not in ACTIONS:
        raise Refused(f"{doc_id}: action {action!r} is not one of {', '.join(ACTIONS)}")
    try:
        if action == "edit" and isinstance(index, int):
            return _edit(bench, doc_id, index, body)
        if action == "add":
            record = body.get("record")
            if not isinstance(record, dict):
                raise Refused(f"{doc_id}: an added incident is a JSON object")
            _validated(bench, doc_id, record)
            return bench.store.add(doc_id=doc_id, action="add", who=bench.who, after=record, note=note)
        return bench.store.add(doc_id=doc_id, action=cast(Action, action), who=bench.who, record_index=index,
                               note=note)  # fmt: skip
    except CorrectionError as exc:
        raise Refused(str(exc)) from None


def record_cards(bench: Workbench, doc_id: str) -> tuple[ReviewDocument, list[dict[str, Any]], CorrectedLine]:
    """The document as the reviewer has it now (page.review_document on the corrected line: its highlights
    include values picked in the article) and one card per record: corrected ones in place, rejected ones from
    the run's own view, each with its states, the values edited (with the run's value before) and the gold
    verdict of the run's record."""
    line, run_view = bench.lines[doc_id], bench.views[doc_id]
    corrected = bench.store.corrected(line)
    article = None if run_view.text is None else Document(doc_id, run_view.text, line.origin or doc_id)
    view = review_document(corrected.line, article, bench.spec, None)
    position = {source: at for at, source in enumerate(corrected.sources)}
    cards = []
    for index in sorted({*range(len(line.records)), *corrected.added}):
        card = view.cards[position[index]] if index in position else None
        if card is None and index < len(run_view.cards):
            card = run_view.cards[index]
        if card is None:
            continue  # an added record rejected since: its decisions stay in the history
        edits = {c.path: c for c in corrected.changes if c.action == "edit" and c.applied and c.record_index == index}
        states = [name for name, yes in (("reject", index not in position), ("accept", index in corrected.accepted),
                  ("added", index in corrected.added), ("edited", bool(edits))) if yes]  # fmt: skip
        gold = run_view.cards[index].gold if index < len(run_view.cards) else None
        rows = [{**row, "change": edits.get(row["field"])} for row in card.rows]
        cards.append({"index": index, "title": card.title, "states": states, "rows": rows, "flags": card.flags,
                      "gold": gold})  # fmt: skip
    return view, cards, corrected


# ---- the app ------------------------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[Response]]
Write = Callable[[dict[str, Any]], dict[str, Any]]


def _environment() -> jinja2.Environment:
    environment = template_environment()
    environment.filters.update(label=field_label, text=value_text, json=lambda value: Markup(embedded_json(value)))
    return environment


def _same_origin(request: Request) -> bool:
    """The Origin header names this very server (scheme, host and port as the browser reached it)."""
    origin = request.headers.get("origin")
    if not origin:
        return False
    parts = urlsplit(origin)
    return parts.scheme == request.url.scheme and parts.netloc == request.headers.get("host")


def guarded(bench: Workbench, write: Write) -> Handler:
    """A JSON write, refused unless it is same-origin, carries the page's token and is a JSON object."""

    async def endpoint(request: Request) -> Response:
        if not _same_origin(request):
            return JSONResponse({"error": "cross-origin write refused (Origin must be this server)"}, 403)
        if not secrets.compare_digest(request.headers.get(CSRF_HEADER, ""), bench.token):
            return JSONResponse({"error": "missing or wrong CSRF token: reload the page"}, 403)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send JSON (Content-Type: application/json)"}, 415)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body is not a JSON object"}, 400)
        try:
            return JSONResponse(write(body))
        except Refused as exc:
            return JSONResponse({"error": str(exc)}, exc.status)

    return endpoint


def make_app(
    run: Path,
    store: CorrectionStore,
    *,
    spec: SchemaSpec,
    documents: list[Path] | None = None,
    suite: Suite | None = None,
    who: str = "reviewer",
    hosts: tuple[str, ...] = LOOPBACK_NAMES,
    compare_with: Path | None = None,
) -> Starlette:
    """The workbench app for one run. `hosts`: the Host names it answers to (the loopback names by default);
    `compare_with`, another run of the suite: /compare shows the two document by document (eval compare's page)."""
    if compare_with is not None and suite is None:
        raise LLMExtractError("--compare scores both runs against a suite's gold: give --suite too")
    bench = Workbench(run, store, spec, documents, suite, who)
    bench.load()
    templates = _environment()

    async def index(request: Request) -> Response:
        query = {key: request.query_params.get(key, "") for key in ("status", "flag", "field", "q", "sort", "desc")}
        done = store.reviewed_ids()
        rows = [document_row(view, bench.lines[view.doc_id], bench.scores.get(view.doc_id), view.doc_id in done)
                for view in bench.page["documents"]]  # fmt: skip
        fields = sorted({generic_path(p).replace("[]", "") for row in rows for p in row["values"]})
        html = templates.get_template("workbench_list.html.j2").render(
            bench=bench, page=bench.page, rows=list_rows(rows, query), total=len(rows), query=query,
            fields=fields, sorts=SORTS, reviewed=len(done), compare_with=compare_with,
        )  # fmt: skip
        return HTMLResponse(html)

    async def document(request: Request) -> Response:
        doc_id = request.path_params["doc_id"]
        if doc_id not in bench.lines:
            return PlainTextResponse(f"no document {doc_id!r} in this run", 404)
        view, cards, corrected = record_cards(bench, doc_id)
        order = list(bench.lines)
        at = order.index(doc_id)
        types = bench.record_type
        widgets = {generic_path(row["field"]): widget(types, row["field"]) for card in cards for row in card["rows"]}
        data = {"doc_id": doc_id, "text": view.text, "widgets": widgets, "skeleton": _skeleton(types)}
        html = templates.get_template("workbench_doc.html.j2").render(
            bench=bench, page=bench.page, doc=view, cards=cards, corrected=corrected, data=data,
            decisions=store.decisions(doc_id), score=bench.scores.get(doc_id), missed=bench.views[doc_id].missed,
            prev=order[at - 1] if at else None, next=order[at + 1] if at + 1 < len(order) else None,
        )  # fmt: skip
        return HTMLResponse(html)

    def post_decision(body: dict[str, Any]) -> dict[str, Any]:
        decision = decide(bench, body)
        return {"id": decision.id, "action": decision.action, "at": decision.at}

    def post_gold(body: dict[str, Any]) -> dict[str, Any]:
        """Every reviewed document of the run becomes gold (add_gold); one the gold has is replaced only when
        the reviewer confirmed it (`replace`)."""
        if suite is None:
            raise Refused("no suite: start the workbench with --suite to promote corrections to gold", 409)
        try:
            summary = add_gold(suite, run, store.db, replace=body.get("replace") is True)
        except CorrectionError as exc:
            raise Refused(str(exc), 409) from None
        bench.load()  # the gold changed: verdicts and scores with it
        added, replaced = ", ".join(summary.added) or "none", ", ".join(summary.replaced) or "none"
        return {"message": f"{summary.incidents} gold incidents written to {summary.gold_path} "
                           f"(added: {added}; replaced: {replaced})"}  # fmt: skip

    async def compare(request: Request) -> Response:
        if compare_with is None or suite is None:
            return PlainTextResponse("no run to compare with: start the workbench with --compare RUN --suite NAME", 404)
        only = request.query_params.get("only") == "different"
        return HTMLResponse(render_compare(compare_runs(run, compare_with, suite, only_different=only)))

    routes = [
        Route("/", index),
        Route("/compare", compare),
        Route("/doc/{doc_id:path}", document),
        Route("/api/decisions", guarded(bench, post_decision), methods=["POST"]),
        Route("/api/gold", guarded(bench, post_gold), methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))])
    app.state.bench = bench
    app.state.compare_with = compare_with
    return app


def _skeleton(record_type: dict[str, Any]) -> dict[str, Any]:
    """An empty record to start a missed incident from: nulls, empty lists, the first choice of each enum."""
    defs = record_type["defs"]

    def empty(schema: dict[str, Any]) -> Any:
        node, nullable = _node(schema, defs)
        if nullable:
            return None
        if "enum" in node:
            return node["enum"][0]
        if node.get("type") == "object":
            return {key: empty(sub) for key, sub in node.get("properties", {}).items()}
        return {"array": [], "string": "", "boolean": False}.get(node.get("type", ""))

    result = empty(record_type["item"])
    assert isinstance(result, dict)
    return result


def serve(
    app: Starlette, *, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, allow_remote: bool = False
) -> None:
    """Run the workbench with uvicorn until interrupted. A host off this machine needs `allow_remote`: the
    pages show the articles and anyone who reaches them can write decisions."""
    if not is_loopback(host) and not allow_remote:
        raise LLMExtractError(f"--host {host} is not this machine: pass it explicitly to serve the network")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    if open_browser:
        shown = f"[{host}]" if ":" in host else host
        threading.Timer(1.0, webbrowser.open, [f"http://{shown}:{port}/"]).start()
    server.run()
