"""The stored run line: one JSON object per document in a run's JSONL, typed.

This module is the one place that knows the line's keys. The runner builds lines here (`RunLine.from_result`,
`RunLine.failure`), `store` reads them back through `RunLine.from_stored` after `store.record_problem` has checked
them, and every reader (eval, review, fuse, the CLI) uses the attributes.

Format versions
---------------
- 1: every line written before the format was versioned: no "format" key.
- 2: the current format: the same keys, with `"format": 2` first. A reader of format 2 may rely on every key the
  runner writes being present (`result` lines and `failure` lines alike).

A line with a higher number (a newer llm-extract) is read for what this version knows; unknown keys are kept as
extras and written back unchanged. `upgrade()` is the single function that turns an older line into the current
shape (the compatibility that eval, review and the runner's counts each did for themselves before).

The schema's records are stored under the schema's list field ("incidents", "templates", ...); here they are
`RunLine.items`, and `RunLine.list_field` says which key held them. The records stay plain dicts: their shape is
the schema's business (scoring, gtt), not the line's.

A line keeps the JSON object it was read from or built as, so writing it back (`to_json`) gives the same bytes:
a resumed run rewrites kept lines exactly as they were stored, format 1 included.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from llm_extract.extraction.grounding import FOUND

if TYPE_CHECKING:
    from llm_extract.extraction.extract import ExtractionResult
    from llm_extract.extraction.requests import ExtractionRequest
    from llm_extract.inputs.documents import InputFailure

FORMAT = 2  # the format new lines are written in
Status = Literal["ok", "invalid", "error"]
STATUSES: tuple[Status, ...] = ("ok", "invalid", "error")


def now_iso() -> str:
    """The timestamp written into lines and manifests (UTC, to the second)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def finite_json(value: Any) -> bytes:
    """Compact JSON text of a line (or manifest); NaN and infinities (invalid JSON) become null rather than
    failing the line."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if "NaN" in text or "Infinity" in text:
        cleaned = json.loads(text, parse_constant=lambda _name: None)
        text = json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, still valid JSON that reads back the same string
        return json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":")).encode("ascii")


# The parts of a line are plain frozen dataclasses and tuples, not models: a run holds one span per copied value
# (hundreds of thousands in a large run), and building them as models took most of the reading time. Pydantic
# still validates them when a line is built (RunLine.from_result); what they leave out stays in to_dict().


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The tokens one document cost (a cached answer's are those its first run spent)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> TokenUsage:
        return cls(value.get("prompt_tokens") or 0, value.get("completion_tokens") or 0, value.get("total_tokens") or 0)


@dataclass(frozen=True, slots=True)
class Ref:
    """The prompt or schema a line was made with."""

    name: str | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Ref:
        return cls(value.get("name"), value.get("sha256"))


class GroundingSpan(NamedTuple):
    """Where one copied value was found in the text (grounding.Span as stored). A tuple: a run holds one per
    copied value, and a tuple is the cheapest immutable record to build."""

    path: str
    quote: str | None
    status: str
    start: int | None = None
    end: int | None = None
    score: float | None = None

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> GroundingSpan:
        get = value.get
        return _new_tuple(cls, (get("path"), get("quote"), get("status"), get("start"), get("end"), get("score")))

    @property
    def found(self) -> bool:
        return self.status in FOUND

    def as_dict(self) -> dict[str, Any]:
        return self._asdict()


_new_tuple = tuple.__new__


# JSON key -> attribute, for the keys whose attribute differs (`schema` would shadow BaseModel.schema).
_ATTRIBUTE = {"schema": "schema_ref"}
_KEY = {attribute: key for key, attribute in _ATTRIBUTE.items()}
_COUNTERS: dict[str, Any] = {"attempts": 0, "reasks": 0, "transport_retries": 0, "backoff_s": 0.0,
                             "retry_after_capped": 0, "latency_s": 0.0}  # fmt: skip


def upgrade(data: Mapping[str, Any]) -> dict[str, Any]:
    """An older line (format 1: no "format" key) in the current shape; a current or newer one as it is.

    What format 1 left out or left open, each of which a reader once handled on its own:
    - the counts (attempts, reasks, transport_retries, backoff_s, retry_after_capped, latency_s) missing or null
      count 0: retry_after_capped came later than the others, reasks later than attempts (the runner's
      totals and the review page's re-ask count defaulted each to 0);
    - usage missing or null counts no tokens; cached missing is False;
    - input_notes and injections, written since the inputs were checked for them, are empty lists;
    - grounding stays absent (None) on a line stored before grounding existed: eval counts such documents as
      "documents_without" and the review page grounds them from the text, since that needs the text;
    - ungrounded, where grounding is stored without it, is the paths of the spans not found.
    The stored object itself is not changed (a rewrite keeps the line as it was written).
    """
    version = data.get("format", 1)
    if isinstance(version, int) and version >= FORMAT:
        return dict(data)
    line = dict(data)
    for key, default in _COUNTERS.items():
        if line.get(key) is None:
            line[key] = default
    if line.get("usage") is None:
        line["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    line.setdefault("cached", False)
    for key in ("input_notes", "injections"):
        if line.get(key) is None:
            line[key] = []
    grounding = line.get("grounding")
    if isinstance(grounding, list) and line.get("ungrounded") is None:
        missed = [span for span in grounding if isinstance(span, dict) and span.get("status") not in FOUND]
        line["ungrounded"] = [span.get("path") for span in missed]
    line["format"] = 1
    return line


class RefLike(Protocol):
    """A prompt template or schema spec: what a line names of it."""

    @property
    def name(self) -> str: ...

    @property
    def sha256(self) -> str: ...


class RunLine(BaseModel):
    """One stored line: a document's outcome, what it cost, where it came from, and what it was made with."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    format: int = 1  # the format the line was stored in (1: written before lines carried a version)
    doc_id: str
    status: Status
    items: list[dict[str, Any]] | None = None  # stored under the schema's list field; an ok line has a list
    error_kind: str | None = None  # validation (invalid), model, input or internal (error); None when ok
    error: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    attempts: int = 0
    reasks: int = 0
    transport_retries: int = 0
    backoff_s: float = 0.0
    retry_after_capped: int = 0
    latency_s: float = 0.0
    cached: bool = False  # answered from the response cache: its tokens were spent by an earlier run
    # the document
    origin: str | None = None
    published: str | None = None
    url: str | None = None
    source: str | None = None
    input_notes: list[str] = Field(default_factory=list)
    text_sha256: str | None = None
    injections: list[list[int]] = Field(default_factory=list)
    # what made it
    resume_key: str | None = None
    model: str | None = None
    prompt: Ref | None = None
    schema_ref: Ref | None = Field(default=None, alias="schema")
    finished_at: str | None = None
    # annotations of an ok line (annotate.py); grounding None: stored before grounding existed
    anchor: dict[str, Any] | None = None
    grounding: list[GroundingSpan] | None = None
    ungrounded: list[str] | None = None
    normalized: dict[str, dict[str, Any]] | None = None
    # what the extractor changed or kept
    salvaged: dict[str, Any] | None = None
    duplicates: list[dict[str, Any]] = Field(default_factory=list)
    resolved: list[dict[str, Any]] = Field(default_factory=list)
    last_output: str | None = None  # the model's last rejected answer (not ok lines)
    # an article too long for one prompt, extracted in chunks (extraction/chunking.py): per chunk its number,
    # character range in the article, status and records kept; absent on a line extracted whole
    chunks: list[dict[str, Any]] | None = None
    # plan lines filled by calls of their own (extraction/fill.py): per line its number, words, status and records
    # kept; absent when no fill was asked
    fills: list[dict[str, Any]] | None = None

    _list_field: str | None = PrivateAttr(default=None)
    _stored: dict[str, Any] = PrivateAttr(default_factory=dict)

    # ---- reading ---------------------------------------------------------------------------------

    @classmethod
    def from_stored(cls, data: Mapping[str, Any], list_field: str | None = None) -> RunLine:
        """The line of a stored JSON object that store.record_problem accepted. The check is not repeated: the
        object is upgraded and its parts built without validation, so a line read today reads as before. The
        object is kept, not copied, as what to_json writes: the caller must not change it afterwards.
        `list_field`: the schema's list key; None: the one key this module does not know whose value is a
        list or null (a failure line has none)."""
        stored = data if isinstance(data, dict) else dict(data)  # kept, not copied: the caller gives it up
        current = upgrade(stored)
        if list_field is None:
            list_field = _guess_list_field(current)
        elif list_field not in current:
            list_field = None  # the line has no records under the schema's key (a failure line, another schema)
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in current.items():
            attribute = _ATTRIBUTE.get(key, key)
            if key == list_field:
                values["items"] = value
            elif attribute in _FIELDS and attribute != "items":
                values[attribute] = _BUILD[attribute](value) if attribute in _BUILD and value is not None else value
            else:
                extra[key] = value
        given = set(values)
        for name, default in _DEFAULTS.items():  # filled here: model_construct's own look-up is slow (~1 ms)
            if name not in values:
                values[name] = default()
        line = cls.model_construct(given, **values)
        object.__setattr__(line, "__pydantic_extra__", extra)
        line._list_field = list_field
        line._stored = stored
        return line

    @classmethod
    def coerce(cls, value: RunLine | Mapping[str, Any], list_field: str | None = None) -> RunLine:
        """A RunLine (seen under `list_field` when one is given), or one read from a line's JSON object."""
        if isinstance(value, RunLine):
            return value if list_field is None else value.under(list_field)
        return cls.from_stored(value, list_field)

    def under(self, list_field: str) -> RunLine:
        """The same line with its records taken from `list_field` (a line read without knowing the schema)."""
        return self if self._list_field == list_field else RunLine.from_stored(self._stored, list_field)

    # ---- writing ---------------------------------------------------------------------------------

    @classmethod
    def _built(cls, stored: dict[str, Any], list_field: str | None) -> RunLine:
        """A line the runner makes: validated, and kept as the object that is written."""
        line = cls.model_validate({_ATTRIBUTE.get(k, k) if k != list_field else "items": v for k, v in stored.items()})
        line._list_field = list_field
        line._stored = stored
        return line

    @classmethod
    def from_result(
        cls,
        request: ExtractionRequest,
        result: ExtractionResult,
        *,
        list_field: str,
        resume_key: str,
        model: str,
        prompt: RefLike,
        schema: RefLike,
        annotate: Callable[[list[dict[str, Any]]], Mapping[str, Any]] | None = None,
        chunks: list[dict[str, Any]] | None = None,
    ) -> RunLine:
        """The line of a document the model answered (ok, invalid or error); `annotate` gives the grounding and
        normalisation entries of an ok line's records (annotate.annotate); `chunks`, the chunks of a document
        extracted in parts (chunking.merge_results)."""
        data = result.data or {}
        items = data.get(list_field) if result.status == "ok" else None
        stored: dict[str, Any] = {
            "format": FORMAT,
            "doc_id": request.doc_id,
            "status": result.status,
            list_field: items,
            "error_kind": None if result.status == "ok" else ("validation" if result.status == "invalid" else "model"),
            "error": result.error,
            "usage": result.usage.as_dict(),
            "attempts": result.attempts,
            "reasks": result.reasks,
            "transport_retries": result.transport_retries,
            "backoff_s": round(result.backoff_s, 3),
            "retry_after_capped": result.retry_after_capped,
            "latency_s": result.latency_s,
            "cached": result.cached,
            **_document_fields(request),
            "text_sha256": request.text_sha256,
            "injections": [list(span) for span in request.injections],
            "resume_key": resume_key,
            "model": model,
            "prompt": {"name": prompt.name, "sha256": prompt.sha256},
            "schema": {"name": schema.name, "sha256": schema.sha256},
            "finished_at": now_iso(),
        }
        if items is not None and annotate is not None:
            stored.update(annotate(items))
        if result.salvaged is not None:
            stored["salvaged"] = result.salvaged
        if result.duplicates:
            stored["duplicates"] = result.duplicates
        if result.resolved:
            stored["resolved"] = result.resolved
        if result.last_output is not None and result.status != "ok":
            stored["last_output"] = result.last_output
        if chunks is not None:
            stored["chunks"] = chunks
        if result.fills is not None:
            stored["fills"] = result.fills
        return cls._built(stored, list_field)

    @classmethod
    def failure(cls, failure: InputFailure, kind: str = "input") -> RunLine:
        """A document that never reached the model, or whose handling failed: still accounted for, with its
        reason (error_kind: input, internal)."""
        stored: dict[str, Any] = {
            "format": FORMAT,
            "doc_id": failure.id,
            "status": "error",
            "error_kind": kind,
            "error": failure.reason,
            "origin": failure.origin,
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "attempts": 0,
            "reasks": 0,
            "transport_retries": 0,
            "backoff_s": 0.0,
            "latency_s": 0.0,
            "finished_at": now_iso(),
        }
        return cls._built(stored, None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the line, keys in their stored order (a copy)."""
        return dict(self._stored)

    def to_json(self) -> bytes:
        """The line's compact JSON text, without the newline (what the run file holds)."""
        return finite_json(self._stored)

    # ---- views -----------------------------------------------------------------------------------

    @property
    def list_field(self) -> str | None:
        """The key the schema's records are stored under ("incidents", "templates"), when the line has it."""
        return self._list_field

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def records(self) -> list[dict[str, Any]]:
        """The schema's records of an ok line; none for a line that is not ok."""
        return (self.items or []) if self.status == "ok" else []

    @property
    def grounded(self) -> bool:
        """Grounding was stored with the line (not so for runs stored before grounding existed)."""
        return self.grounding is not None

    def extra(self, key: str) -> Any:
        """A key this version does not know (a newer writer's), or None."""
        return (self.__pydantic_extra__ or {}).get(key)

    def with_annotations(self, annotations: Mapping[str, Any]) -> RunLine:
        """The line with the grounding and normalisation entries given (annotate.annotate): the review page
        grounds a line stored before grounding existed from the text. Not for writing: the stored object is
        the original."""
        update = {key: _BUILD[key](value) if key in _BUILD and value is not None else value
                  for key, value in annotations.items() if key in _FIELDS}  # fmt: skip
        line = self.model_copy(update=update)
        line._list_field, line._stored = self._list_field, self._stored
        return line


def _document_fields(request: ExtractionRequest) -> dict[str, Any]:
    document = request.document
    return {"origin": document.origin, "published": document.published, "url": document.url, "source": document.source,
            "input_notes": list(document.notes)}  # fmt: skip


def _part(kind: type[TokenUsage] | type[Ref]) -> Callable[[Any], Any]:
    return lambda value: kind.of(value) if isinstance(value, dict) else value


def _spans(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [GroundingSpan.of(span) if isinstance(span, dict) else span for span in value]


# How a stored value becomes the attribute's. store.record_problem checked the shapes of what eval, review and
# fuse read; the runner's own view (store.read_lines) checks only the id, so nothing here assumes a shape.
_BUILD: dict[str, Callable[[Any], Any]] = {
    "usage": _part(TokenUsage),
    "prompt": _part(Ref),
    "schema_ref": _part(Ref),
    "grounding": _spans,
}
_FIELDS = frozenset(RunLine.model_fields)
_DEFAULTS: dict[str, Callable[[], Any]] = {
    name: field.default_factory if field.default_factory is not None else (lambda value=field.default: value)  # type: ignore[misc]
    for name, field in RunLine.model_fields.items()
    if not field.is_required()
}
_KNOWN_KEYS = frozenset(_KEY.get(name, name) for name in _FIELDS) - {"items"}


def _guess_list_field(data: Mapping[str, Any]) -> str | None:
    candidates = [
        key for key, value in data.items() if key not in _KNOWN_KEYS and (value is None or isinstance(value, list))
    ]
    return candidates[0] if len(candidates) == 1 else None


def read_items(lines: Iterable[RunLine]) -> dict[str, list[dict[str, Any]]]:
    """doc_id -> the records of each line (none for a line that is not ok)."""
    return {line.doc_id: line.records for line in lines}
