"""Field-level scoring of predicted records against gold, with optimal one-to-one incident alignment.

Pure functions over plain dicts: no model, no files. Per document, predicted incidents are aligned to
gold incidents by linear_sum_assignment on a field-weighted similarity; pairs under a minimum
similarity stay unmatched. Counts are micro-averaged over fields and documents:

- a correct value is a true positive; a wrong value is a false positive and, where gold requires a
  value, also a false negative; a value where gold has none is spurious (FP); a missing value where
  gold has one is missed (FN); both empty counts nothing;
- list fields are compared as sets (one-to-one element matching);
- an unmatched prediction makes every value it holds spurious; an unmatched gold incident makes
  every value it requires missed (unless the gold incident is marked optional).

Gold values may list alternatives (a JSON list for a scalar; null among them means "empty is fine
too"), numbers may be {"range": [lo, hi]}, and dates are compared at the gold's precision.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from rapidfuzz import fuzz
from scipy.optimize import linear_sum_assignment

FieldKind = Literal["enum", "name", "number", "date", "bool", "enum_set", "name_set"]
SET_KINDS = {"enum_set", "name_set"}
Verdict = Literal["correct", "partial", "wrong", "spurious", "missed", "empty"]


@dataclass(frozen=True)
class FieldSpec:
    """One scored field: a dotted path ('location.site'; 'weapons[].type' and 'claimed_by[]' for lists)."""

    path: str
    kind: FieldKind
    weight: float = 1.0
    precision_path: str | None = None  # for dates: where the gold's precision lives (e.g. 'date.precision')


@dataclass(frozen=True)
class ScoringConfig:
    fields: tuple[FieldSpec, ...]
    min_similarity: float = 0.3
    fuzzy_threshold: float = 85.0
    scope: Literal["all", "main"] = "all"
    role_path: str = "role"


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def agreement(self) -> float:
        """Share of agreement for alignment (1 when both sides are empty is not counted: see similarity)."""
        total = self.tp + self.fp + self.fn
        return self.tp / total if total else 1.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


# ---- reading values -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _parse_path(path: str) -> tuple[tuple[str, bool], ...]:
    return tuple((part.removesuffix("[]"), part.endswith("[]")) for part in path.split("."))


def _walk(node: Any, parts: tuple[tuple[str, bool], ...]) -> Any:
    for index, (key, is_list) in enumerate(parts):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
        if is_list:
            if node is None:
                return None
            rest = parts[index + 1 :]
            return [_walk(item, rest) if rest else item for item in node]
    return node


def get_path(record: dict[str, Any] | None, path: str) -> Any:
    """Value at a dotted path; 'a[].b' collects b from each element of list a; 'a[]' is the list itself."""
    return _walk(record, _parse_path(path))


def has_path(record: dict[str, Any], path: str) -> bool:
    """Whether gold names the field at all (an absent key means 'do not score this field here')."""
    node: Any = record
    for key, is_list in _parse_path(path):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        if is_list:
            return True
    return True


def alternatives(value: Any) -> list[Any]:
    """A gold scalar is one value or a list of acceptable ones."""
    return list(value) if isinstance(value, list) else [value]


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2010": "-", "\u2013": "-"})


@functools.lru_cache(maxsize=65536)
def normalise_name(text: str) -> str:
    """Case, accents, quotes, hyphens, punctuation and a leading article do not distinguish names."""
    text = unicodedata.normalize("NFKD", str(text).translate(_QUOTES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[-_/]", " ", text)
    text = re.sub(r"[^\w\s]", "", text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"^the ", "", text)


def as_date(value: Any) -> dt.date | None:
    """A date, or an ISO date string (read by its first 10 characters) as one; None otherwise."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


# ---- comparing one value --------------------------------------------------------------------


def value_matches(kind: FieldKind, gold: Any, pred: Any, fuzzy_threshold: float, precision: str | None = None) -> bool:
    """Does the predicted value match one non-empty gold alternative?"""
    if kind in {"enum", "bool"}:
        return pred == gold
    if kind == "name":
        g, p = normalise_name(gold), normalise_name(pred)
        return g == p or max(fuzz.ratio(g, p), fuzz.token_sort_ratio(g, p)) >= fuzzy_threshold
    if kind == "number":
        if isinstance(gold, dict) and "range" in gold:
            low, high = gold["range"]
            return isinstance(pred, int | float) and low <= pred <= high
        return pred == gold
    if kind == "date":
        g, p = as_date(gold), as_date(pred)
        if g is None or p is None:
            return False
        if precision == "year":
            return g.year == p.year
        if precision == "month":
            return (g.year, g.month) == (p.year, p.month)
        if precision == "week":
            return abs((g - p).days) <= 6
        return g == p
    raise ValueError(f"unknown field kind {kind!r}")


def _element_kind(kind: FieldKind) -> FieldKind:
    return "enum" if kind == "enum_set" else "name"


@dataclass
class FieldResult:
    path: str
    counts: Counts
    verdict: Verdict
    gold: Any
    pred: Any


def compare_scalar(spec: FieldSpec, gold: Any, pred: Any, threshold: float, precision: str | None) -> Counts:
    options = alternatives(gold)
    empty_ok = any(option is None for option in options)
    values = [option for option in options if option is not None]
    if pred is None:
        return Counts() if empty_ok else Counts(fn=1)
    if any(value_matches(spec.kind, option, pred, threshold, precision) for option in values):
        return Counts(tp=1)
    return Counts(fp=1, fn=0 if empty_ok or not values else 1)


def compare_set(spec: FieldSpec, gold: Any, pred: Any, threshold: float) -> Counts:
    """One-to-one matching of predicted elements to gold elements (each gold element a list of aliases)."""
    kind = _element_kind(spec.kind)

    def same(a: list[Any], b: list[Any]) -> bool:
        return any(value_matches(kind, x, y, threshold) for x in a for y in b)

    gold_items: list[list[Any]] = []
    for item in gold or []:
        aliases = [alias for alias in alternatives(item) if alias is not None]
        if aliases and not any(same(aliases, seen) for seen in gold_items):
            gold_items.append(aliases)  # a set: a repeated element (two drone entries) is one element
    pred_items: list[Any] = []
    for item in pred or []:
        if item is not None and not any(same([item], [seen]) for seen in pred_items):
            pred_items.append(item)
    if not gold_items or not pred_items:
        return Counts(fp=len(pred_items), fn=len(gold_items))
    edges = [[j for j, g in enumerate(gold_items) if same(g, [p])] for p in pred_items]
    tp = maximum_matching(edges, len(gold_items))
    return Counts(tp=tp, fp=len(pred_items) - tp, fn=len(gold_items) - tp)


def maximum_matching(edges: list[list[int]], right_size: int) -> int:
    """Size of a maximum bipartite matching (augmenting paths): exact, and cheap for the small lists here."""
    owner: list[int | None] = [None] * right_size

    def augment(left: int, seen: set[int]) -> bool:
        for right in edges[left]:
            if right not in seen:
                seen.add(right)
                current = owner[right]
                if current is None or augment(current, seen):
                    owner[right] = left
                    return True
        return False

    return sum(augment(left, set()) for left in range(len(edges)))


def compare_field(
    spec: FieldSpec, gold_incident: dict[str, Any] | None, pred_incident: dict[str, Any] | None, threshold: float
) -> FieldResult:
    """Compare one field of a (possibly absent) gold incident with a (possibly absent) prediction."""
    gold = get_path(gold_incident, spec.path) if gold_incident is not None else None
    pred = get_path(pred_incident, spec.path) if pred_incident is not None else None
    if spec.kind in SET_KINDS:
        counts = compare_set(spec, gold, pred, threshold)
    else:
        precision = get_path(gold_incident, spec.precision_path) if gold_incident and spec.precision_path else None
        if isinstance(precision, list):
            precision = precision[0]
        counts = compare_scalar(spec, gold, pred, threshold, precision)
    if counts.tp and not counts.fp and not counts.fn:
        verdict: Verdict = "correct"
    elif counts.tp + counts.fp + counts.fn == 0:
        verdict = "empty"
    elif counts.tp:
        verdict = "partial"  # a list field with some elements right
    elif counts.fp and counts.fn:
        verdict = "wrong"
    elif counts.fp:
        verdict = "spurious"
    else:
        verdict = "missed"
    return FieldResult(spec.path, counts, verdict, gold, pred)


def scored_fields(config: ScoringConfig, gold_incident: dict[str, Any] | None) -> list[FieldSpec]:
    """Fields to score for this gold incident: all, except those whose key the gold omits on purpose."""
    if gold_incident is None:
        return list(config.fields)
    return [spec for spec in config.fields if has_path(gold_incident, spec.path)]


def compare_incidents(
    config: ScoringConfig,
    gold_incident: dict[str, Any] | None,
    pred_incident: dict[str, Any] | None,
    specs: list[FieldSpec] | None = None,
) -> list[FieldResult]:
    """Every scored field of one gold/predicted pair (`specs`: the gold's scored fields, if known)."""
    specs = scored_fields(config, gold_incident) if specs is None else specs
    return [compare_field(spec, gold_incident, pred_incident, config.fuzzy_threshold) for spec in specs]


def similarity(config: ScoringConfig, fields: list[FieldResult]) -> float:
    """Field-weighted agreement over the fields where either side has a value."""
    weights = {spec.path: spec.weight for spec in config.fields}
    total = weight = 0.0
    for result in fields:
        counts = result.counts
        if counts.tp + counts.fp + counts.fn == 0:
            continue
        total += weights[result.path] * counts.agreement
        weight += weights[result.path]
    return total / weight if weight else 0.0


# ---- documents ------------------------------------------------------------------------------


@dataclass
class PairResult:
    gold_id: str
    pred_index: int
    similarity: float
    fields: list[FieldResult]


@dataclass
class DocumentScore:
    doc_id: str
    incidents: Counts
    fields: dict[str, Counts]
    pairs: list[PairResult] = field(default_factory=list)
    spurious: list[tuple[int, list[FieldResult]]] = field(default_factory=list)  # unmatched predictions
    missed: list[tuple[str, list[FieldResult]]] = field(default_factory=list)  # unmatched required gold


def in_scope(config: ScoringConfig, incident: dict[str, Any], is_gold: bool) -> bool:
    if config.scope == "all":
        return True
    role = get_path(incident, config.role_path)
    return "main" in alternatives(role) if is_gold else role == "main"


def score_document(
    config: ScoringConfig, doc_id: str, gold: Sequence[dict[str, Any]], predicted: Sequence[dict[str, Any]]
) -> DocumentScore:
    # Canonical order first: tied assignments are then broken the same way however the inputs are ordered.
    gold_items = sorted((g for g in gold if in_scope(config, g, is_gold=True)), key=_canonical)
    pred_items = sorted(
        ((i, p) for i, p in enumerate(predicted) if in_scope(config, p, is_gold=False)),
        key=lambda item: _canonical(item[1]),
    )
    result = DocumentScore(doc_id, Counts(), {spec.path: Counts() for spec in config.fields})

    matched_gold: set[int] = set()
    matched_pred: set[int] = set()
    if gold_items and pred_items:
        specs = [scored_fields(config, g) for g in gold_items]
        compared = [
            [compare_incidents(config, g, p, sp) for g, sp in zip(gold_items, specs, strict=True)]
            for _, p in pred_items
        ]
        matrix = np.array([[similarity(config, fields) for fields in row] for row in compared])
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        for row, col in zip(rows, cols, strict=True):
            if matrix[row, col] < config.min_similarity:
                continue
            matched_pred.add(row)
            matched_gold.add(col)
            gold_id, index = _gold_id(gold_items[col], col), pred_items[row][0]
            result.pairs.append(PairResult(gold_id, index, round(float(matrix[row, col]), 4), compared[row][col]))
            result.incidents += Counts(tp=1)

    for row, (index, p) in enumerate(pred_items):
        if row not in matched_pred:
            result.spurious.append((index, compare_incidents(config, None, p)))
            result.incidents += Counts(fp=1)
    for col, g in enumerate(gold_items):
        if col not in matched_gold and not g.get("optional", False):
            result.missed.append((_gold_id(g, col), compare_incidents(config, g, None)))
            result.incidents += Counts(fn=1)

    every_field = [f for pair in result.pairs for f in pair.fields]
    every_field += [f for _, fields in result.spurious for f in fields]
    every_field += [f for _, fields in result.missed for f in fields]
    for field_result in every_field:
        result.fields[field_result.path] += field_result.counts
    result.pairs.sort(key=lambda pair: pair.pred_index)
    result.spurious.sort(key=lambda item: item[0])
    result.missed.sort(key=lambda item: item[0])
    return result


def _canonical(incident: dict[str, Any]) -> str:
    return json.dumps(incident, sort_keys=True, default=str)


def _gold_id(incident: dict[str, Any], position: int) -> str:
    return str(incident.get("id", f"gold-{position}"))


@dataclass
class Score:
    documents: list[DocumentScore]
    incidents: Counts
    fields: dict[str, Counts]

    @property
    def micro(self) -> Counts:
        total = Counts()
        for counts in self.fields.values():
            total += counts
        return total


def score(
    config: ScoringConfig,
    gold: dict[str, Sequence[dict[str, Any]]],
    predicted: dict[str, Sequence[dict[str, Any]]],
    doc_ids: Iterable[str] | None = None,
) -> Score:
    """Score every gold document (a document with no prediction predicts nothing)."""
    documents = [
        score_document(config, doc_id, gold.get(doc_id, []), predicted.get(doc_id, []))
        for doc_id in (doc_ids if doc_ids is not None else gold)
    ]
    incidents = Counts()
    fields = {spec.path: Counts() for spec in config.fields}
    for document in documents:
        incidents += document.incidents
        for path, counts in document.fields.items():
            fields[path] += counts
    return Score(documents, incidents, fields)
