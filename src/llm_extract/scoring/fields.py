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

Accepted but not required values:
- a scalar: list null among the alternatives (`["San Salvador", null]`);
- an element of a list field: mark the element object `"optional": true` (a perpetrator, target or weapon; or
  `"optional": ["attribution"]` for some of its keys only), or write a plain element as `{"optional": value}`
  (an alias list in `claimed_by`). Matched, it is a true positive; unmatched, it costs nothing. A predicted
  element that matches no gold element is still a false positive.
- ranges may be open: `{"range": [2, null]}` is "at least 2"; a date field's gold may be a range of ISO dates,
  `{"range": ["1990-03-31", "1990-04-01"]}` (within), `{"range": [null, "1989-12-06"]}` (on or before).

Two rules tie fields together:
- A date and its precision are scored jointly: a field named as a date field's `precision_path` (the seed
  suite's `date.precision` beside `date.start`) counts as correct only when that date does not disagree with the
  gold (it is correct, or both are empty). A right precision beside a wrong or missing start is a wrong value
  (false positive, and false negative where gold requires one), never a true positive.
- Key fields (ScoringConfig.key_fields, by default `location.site` and `date.start`) must not contradict for a
  prediction to be aligned with a gold incident at all: when gold names a site and the prediction names another
  one (none of the gold's alternatives, nor a name whose words contain or are contained in one), or gold requires
  a day and the prediction's start is more than `date_tolerance_days` from every gold alternative (or outside a
  gold range by more than that), the pair cannot align, whatever its similarity. A record copied from one
  incident is then never credited as another incident at another site or on another day: it stays spurious and
  the other incident missed. An empty side sets no condition; nor does a gold date that accepts null (the
  article does not fix the day: the seeds guideline's unanchored weekday, MUC-4's "on or before") or whose
  precision is coarser than a day. The prediction's own precision label is not consulted (an ISO date names a
  day). A site that accepts null still counts: the article names it (a site known only from a claim).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
from rapidfuzz import fuzz
from scipy.optimize import linear_sum_assignment

from llm_extract.core.gc_pause import collector_paused
from llm_extract.core.metrics import Counts
from llm_extract.core.paths import has_path, parse_path, walk
from llm_extract.core.text import fold_name as normalise_name

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
    # Scalar fields that must not contradict for a pair to align (module docstring); a path the suite does not
    # score is ignored, so the default suits incident_v1 and costs other schemas nothing. [] turns the rule off.
    key_fields: tuple[str, ...] = ("location.site", "date.start")
    date_tolerance_days: int = 1  # how far a predicted day may be from the gold's day and still be the same incident

    def __post_init__(self) -> None:
        if not isinstance(self.key_fields, tuple):  # a TOML or JSON list: kept hashable (the field cache's key)
            object.__setattr__(self, "key_fields", tuple(self.key_fields))


# ---- reading values -------------------------------------------------------------------------


def get_path(record: dict[str, Any] | None, path: str) -> Any:
    """Value at a dotted path; 'a[].b' collects b from each element of list a; 'a[]' is the list itself."""
    return walk(record, parse_path(path))


def _optional_element(item: Any, key: str, value: Any) -> Any:
    """A gold list element marked `"optional": true` gives its value as {"optional": value} (compare_set); one
    marked `"optional": ["attribution"]` does so for the keys named only."""
    if not isinstance(item, dict):
        return value
    marked = item.get(OPTIONAL)
    return {OPTIONAL: value} if marked is True or (isinstance(marked, list) and key in marked) else value


def get_gold_path(record: dict[str, Any] | None, path: str) -> Any:
    """get_path for a gold incident: a list element marked optional gives its value wrapped (_optional_element)."""
    return walk(record, parse_path(path), _optional_element)


OPTIONAL = "optional"


def alternatives(value: Any) -> list[Any]:
    """A gold scalar is one value or a list of acceptable ones."""
    return list(value) if isinstance(value, list) else [value]


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
            low, high = gold["range"]  # null: open at that end
            return isinstance(pred, int | float) and (low is None or low <= pred) and (high is None or pred <= high)
        return pred == gold
    if kind == "date":
        if isinstance(gold, dict) and "range" in gold:
            return _date_distance(gold, pred) == 0
        g_day, p_day = as_date(gold), as_date(pred)
        if g_day is None or p_day is None:
            return False
        if precision == "year":
            return g_day.year == p_day.year
        if precision == "month":
            return (g_day.year, g_day.month) == (p_day.year, p_day.month)
        if precision == "week":
            return abs((g_day - p_day).days) <= 6
        return g_day == p_day
    raise ValueError(f"unknown field kind {kind!r}")


def _ordinal(value: Any) -> int | None:
    """The day of a date (as_date) as a number (date.toordinal); None for no date."""
    day = as_date(value)
    return None if day is None else day.toordinal()


def _date_bounds(gold: Any) -> tuple[int | None, int | None] | None:
    """The days (ordinals) a gold date names: (day, day), or a range's ends ({"range": [lo, hi]}, None for an
    open end). None when it is no date (an unreadable range bound too)."""
    if isinstance(gold, dict) and "range" in gold:
        bounds = gold["range"]
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            return None
        low, high = (None if bound is None else _ordinal(bound) for bound in bounds)
        if (low is None and bounds[0] is not None) or (high is None and bounds[1] is not None):
            return None
        return low, high
    day = _ordinal(gold)
    return None if day is None else (day, day)


def _days_outside(bounds: tuple[int | None, int | None], day: int) -> int:
    """Days from `day` to the nearest of the gold's days (_date_bounds); 0 among them."""
    low, high = bounds
    if low is not None and day < low:
        return low - day
    if high is not None and day > high:
        return day - high
    return 0


def _date_distance(gold: Any, pred: Any) -> int | None:
    """Days from the predicted date to a gold date or to the nearest end of a gold range ({"range": [lo, hi]},
    null for an open end); 0 inside it. None when either side is not a date (an unreadable range bound too)."""
    day = _ordinal(pred)
    if day is None:
        return None
    bounds = _date_bounds(gold)
    return None if bounds is None else _days_outside(bounds, day)


def _element_kind(kind: FieldKind) -> FieldKind:
    return "enum" if kind == "enum_set" else "name"


@dataclass(slots=True)
class FieldResult:
    """One field of a pair. Read it, do not change it: score() gives every result of the same comparison one
    Counts object (the fast path below)."""

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
    """One-to-one matching of predicted elements to gold elements (each gold element a list of aliases).

    A gold element given as {"optional": aliases} is accepted but not required: matched it is a true positive,
    unmatched it is not missed. Required elements that share an alias are one element (as ever); an optional
    element stays an element of its own, so that it can accept a predicted value beside the required ones. The
    matching first pairs as many required elements as it can, then adds optional ones (a maximum matching that
    never trades a required element for an optional one)."""
    kind = _element_kind(spec.kind)

    def same(a: list[Any], b: list[Any]) -> bool:
        return any(value_matches(kind, x, y, threshold) for x in a for y in b)

    gold_items: list[list[Any]] = []
    required: list[bool] = []
    for item in gold or []:
        optional = isinstance(item, dict) and len(item) == 1 and OPTIONAL in item
        aliases = [alias for alias in alternatives(item[OPTIONAL] if optional else item) if alias is not None]
        if not aliases:
            continue
        # a set: a repeated element (two drone entries) is one element
        if optional or not any(need and same(aliases, seen) for need, seen in zip(required, gold_items, strict=True)):
            gold_items.append(aliases)
            required.append(not optional)
    pred_items: list[Any] = []
    for item in pred or []:
        if item is not None and not any(same([item], [seen]) for seen in pred_items):
            pred_items.append(item)
    needed = sum(required)
    if not gold_items or not pred_items:
        return Counts(fp=len(pred_items), fn=needed)
    edges = [[j for j, g in enumerate(gold_items) if same(g, [p])] for p in pred_items]
    if needed == len(gold_items):
        tp = maximum_matching(edges, len(gold_items))
        return Counts(tp=tp, fp=len(pred_items) - tp, fn=len(gold_items) - tp)
    owner: list[int | None] = [None] * len(gold_items)
    firsts = [[j for j in line if required[j]] for line in edges]
    found = sum(_augment(firsts, owner, left, set()) for left in range(len(edges)))
    # Augmenting paths keep every matched gold element matched, so the required ones found stay found.
    matched = set(owner)
    tp = found + sum(_augment(edges, owner, left, set()) for left in range(len(edges)) if left not in matched)
    missed = sum(1 for j, left in enumerate(owner) if required[j] and left is None)
    return Counts(tp=tp, fp=len(pred_items) - tp, fn=missed)


def maximum_matching(edges: list[list[int]], right_size: int) -> int:
    """Size of a maximum bipartite matching (augmenting paths): exact, and cheap for the small lists here."""
    owner: list[int | None] = [None] * right_size
    return sum(_augment(edges, owner, left, set()) for left in range(len(edges)))


def _augment(edges: list[list[int]], owner: list[int | None], left: int, seen: set[int]) -> bool:
    """One augmenting path from `left` (a function of its own: a recursive closure is a reference cycle)."""
    for right in edges[left]:
        if right not in seen:
            seen.add(right)
            current = owner[right]
            if current is None or _augment(edges, owner, current, seen):
                owner[right] = left
                return True
    return False


def compare_field(
    spec: FieldSpec, gold_incident: dict[str, Any] | None, pred_incident: dict[str, Any] | None, threshold: float
) -> FieldResult:
    """Compare one field of a (possibly absent) gold incident with a (possibly absent) prediction."""
    gold = get_gold_path(gold_incident, spec.path) if gold_incident is not None else None
    pred = get_path(pred_incident, spec.path) if pred_incident is not None else None
    if spec.kind in SET_KINDS:
        counts = compare_set(spec, gold, pred, threshold)
    else:
        precision = get_path(gold_incident, spec.precision_path) if gold_incident and spec.precision_path else None
        if isinstance(precision, list):
            precision = precision[0]
        counts = compare_scalar(spec, gold, pred, threshold, precision)
    return FieldResult(spec.path, counts, _verdict(counts.tp, counts.fp, counts.fn), gold, pred)


def _verdict(tp: int, fp: int, fn: int) -> Verdict:
    if tp and not fp and not fn:
        return "correct"
    if tp + fp + fn == 0:
        return "empty"
    if tp:
        return "partial"  # a list field with some elements right
    if fp and fn:
        return "wrong"
    return "spurious" if fp else "missed"


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
    results = [compare_field(spec, gold_incident, pred_incident, config.fuzzy_threshold) for spec in specs]
    for dependent, on in joint_fields(config):
        ons = [result for result in results if result.path == on]
        if ons and (ons[0].counts.fp or ons[0].counts.fn):
            results = [
                _demoted(result) if result.path == dependent and result.counts.tp else result for result in results
            ]
    return results


@functools.lru_cache(maxsize=64)
def _joint_fields(paths: tuple[tuple[str, str | None, str], ...]) -> tuple[tuple[str, str], ...]:
    scored = {path for path, _, _ in paths}
    joint: dict[str, str] = {}
    for path, precision_path, kind in paths:
        if kind == "date" and precision_path is not None and precision_path in scored and precision_path != path:
            joint.setdefault(precision_path, path)  # the first date that names it
    return tuple(joint.items())


def joint_fields(config: ScoringConfig) -> tuple[tuple[str, str], ...]:
    """(dependent, on) path pairs: a scored field named as a date field's precision_path counts as correct only
    when that date field does not disagree (module docstring)."""
    return _joint_fields(tuple((spec.path, spec.precision_path, spec.kind) for spec in config.fields))


def _demoted_counts(gold: Any) -> Counts:
    """A right value beside a wrong date: what compare_scalar counts for a value that matches no alternative."""
    options = alternatives(gold)
    empty_ok = any(option is None for option in options)
    return Counts(fp=1, fn=0 if empty_ok or all(option is None for option in options) else 1)


def _demoted(result: FieldResult) -> FieldResult:
    counts = _demoted_counts(result.gold)
    return FieldResult(result.path, counts, _verdict(counts.tp, counts.fp, counts.fn), result.gold, result.pred)


def key_agrees(spec: FieldSpec, gold: Any, pred: Any, precision: Any, config: ScoringConfig) -> bool:
    """Whether a key field lets the pair align (module docstring): False only when both sides have a value and
    the prediction contradicts every gold alternative."""
    if pred is None or spec.kind in SET_KINDS:
        return True
    if spec.kind == "date":
        days = _key_days(gold, precision)
        return days is None or _near(days, _ordinal(pred), config.date_tolerance_days)
    options = alternatives(gold)
    values = [option for option in options if option is not None]
    if not values:
        return True
    if spec.kind == "name":
        return any(_names_compatible(value, pred, config.fuzzy_threshold) for value in values)
    return any(value_matches(spec.kind, value, pred, config.fuzzy_threshold, precision) for value in values)


def _key_days(gold: Any, precision: Any) -> list[tuple[int | None, int | None]] | None:
    """The days a date key field's gold names (_date_bounds), one entry per alternative; None where it sets no
    condition: no value; null accepted (the article does not fix the day, so no day contradicts it); a precision
    coarser than a day; an alternative that is no readable date."""
    options = alternatives(gold)
    values = [option for option in options if option is not None]
    if not values or len(values) < len(options):
        return None
    if isinstance(precision, list):
        precision = precision[0] if precision else None
    if precision not in (None, "day"):
        return None
    days = [_date_bounds(value) for value in values]
    return None if None in days else days  # type: ignore[return-value]


def _near(days: list[tuple[int | None, int | None]], day: int | None, tolerance: int) -> bool:
    """Whether a predicted day (an ordinal; None: no readable date, which sets no condition) is within
    `tolerance` days of one of the gold's days (_key_days)."""
    if day is None:
        return True
    return min(_days_outside(bounds, day) for bounds in days) <= tolerance


def _names_compatible(gold: Any, pred: Any, threshold: float) -> bool:
    """Not a contradiction: the same name (value_matches), or one name's words all among the other's ("al-Asad
    military base" and "al-Asad military base in western Iraq" are one site; "al-Harir airbase" is another)."""
    if value_matches("name", gold, pred, threshold):
        return True
    g, p = set(normalise_name(gold).split()), set(normalise_name(pred).split())
    return bool(g and p) and (g <= p or p <= g)


_INCOMPATIBLE = -1.0  # the similarity of a pair whose key fields contradict: under any floor, and avoided by the
# assignment wherever another pairing exists


def key_fields(config: ScoringConfig) -> list[FieldSpec]:
    """The scored specs named in config.key_fields (the first spec of each path)."""
    wanted = set(config.key_fields)
    found: dict[str, FieldSpec] = {}
    for spec in config.fields:
        if spec.path in wanted and spec.path not in found and spec.kind not in SET_KINDS:
            found[spec.path] = spec
    return list(found.values())


def pair_agrees(config: ScoringConfig, gold_incident: dict[str, Any], pred_incident: dict[str, Any]) -> bool:
    """Whether no key field of the pair contradicts (a field the gold leaves out sets no condition)."""
    for spec in key_fields(config):
        if not has_path(gold_incident, spec.path):
            continue
        precision = get_path(gold_incident, spec.precision_path) if spec.precision_path else None
        gold, pred = get_gold_path(gold_incident, spec.path), get_path(pred_incident, spec.path)
        if not key_agrees(spec, gold, pred, precision, config):
            return False
    return True


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
    """One document's alignment and counts; equal to reference_score_document, much faster (see _Scorer)."""
    return _Scorer(config).document(doc_id, gold, predicted)


def reference_score_document(
    config: ScoringConfig, doc_id: str, gold: Sequence[dict[str, Any]], predicted: Sequence[dict[str, Any]]
) -> DocumentScore:
    """The scorer's definition, every pair compared afresh field by field: slow, kept as the yardstick that
    score_document must equal (tests) and that bench/scoring.py times it against."""
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
        matrix = np.array(
            [
                [
                    similarity(config, fields) if pair_agrees(config, g, p) else _INCOMPATIBLE
                    for fields, g in zip(row, gold_items, strict=True)
                ]
                for row, (_, p) in zip(compared, pred_items, strict=True)
            ]
        )
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


_CANONICAL = json.JSONEncoder(sort_keys=True, default=str).encode  # what json.dumps builds on every call


def _canonical(incident: dict[str, Any]) -> str:
    return _CANONICAL(incident)


# ---- the fast path --------------------------------------------------------------------------
#
# score_document gives exactly what reference_score_document gives (tests/test_scoring_speed_equivalence.py),
# about 10 times faster over bench/scoring.py's documents (score() over many documents):
# - A comparison's counts depend only on the field, the gold value, the predicted value and (for dates) the
#   gold's precision, and the same values recur across pairs and documents. So each incident's values are
#   read once (not once per pair), each value gets a hashable key that only an identical value shares (a
#   predicted one a number, which hashes at once at every look-up), and each field remembers the outcome of
#   every (gold key, predicted key) it has compared. A new combination is compared by the functions above
#   (compare_scalar, compare_set), so every outcome is theirs, and its Counts object serves every FieldResult
#   that has this outcome.
# - Key fields are checked first: a pair they forbid (_INCOMPATIBLE) is never compared field by field. A gold
#   date is turned into day numbers once (_key_days), so checking it against a predicted date is a subtraction.
# - A pair's outcomes are looked up once, for its similarity and, if it is aligned, for its FieldResults.
# - Similarities are summed in the same order as similarity() sums them, so the matrix is bit for bit the same.
# - The canonical order (a JSON dump of every incident) and linear_sum_assignment are needed only where the
#   answer could depend on them: a tie in the alignment, or gold ids given by position. Where the optimal
#   alignment is the only one (_clear_assignment; an incident whose key fields contradict every partner does
#   not make it ambiguous) and the gold ids are distinct, neither is run.
# - score() pauses the cyclic garbage collector: scoring makes no reference cycles.

_LIST, _DICT = object(), object()
_PLAIN = {str, int, type(None)}  # values that are their own key (_key)

# An outcome: tp, fp, fn, verdict, the field's path, its position among the document's per-path counts, what it
# adds to a pair's similarity sums (weight * agreement and weight where either side has a value, 0.0 and 0.0
# where neither has: adding 0.0 to a sum that starts at 0.0 leaves it bit for bit as skipping does), and the
# Counts of tp, fp and fn that its FieldResults share.
_Outcome = tuple[int, int, int, Verdict, str, int, float, float, Counts]


def _key(value: Any) -> Any:
    """A hashable stand-in equal only for a value of the same structure, types and text (True is not 1,
    -0.0 is not 0.0); a value of another type, or NaN, gets a key of its own (compared every time)."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is list:
        return (_LIST, *value) if _PLAIN.issuperset(map(type, value)) else (_LIST, *map(_key, value))
    if kind is int:
        return value
    if kind is bool:
        return (bool, value)
    if kind is float:
        return (float, repr(value)) if value == value else object()
    if kind is dict:
        return (_DICT, *((_key(k), _key(v)) for k, v in value.items()))
    return object()


def _precision_key(precision: Any) -> str | None:
    """All a date comparison reads of the gold's precision (value_matches)."""
    for name in ("year", "month", "week"):
        if precision == name:
            return name
    return None


def _getter(parts: tuple[tuple[str, bool], ...]) -> Callable[[Any], Any]:
    """get_path for one path, unrolled for the shapes fields have (the same result as core.paths.walk)."""
    if len(parts) == 1 and not parts[0][1]:
        ((a, _),) = parts

        def get_1(node: Any) -> Any:
            return node.get(a) if isinstance(node, dict) else None

        return get_1
    if len(parts) == 2 and not parts[0][1] and not parts[1][1]:
        (a, _), (b, _) = parts

        def get_2(node: Any) -> Any:
            if not isinstance(node, dict):
                return None
            node = node.get(a)
            return node.get(b) if isinstance(node, dict) else None

        return get_2
    if len(parts) == 3 and not any(is_list for _, is_list in parts):
        (a, _), (b, _), (c, _) = parts

        def get_3(node: Any) -> Any:
            if not isinstance(node, dict):
                return None
            node = node.get(a)
            if not isinstance(node, dict):
                return None
            node = node.get(b)
            return node.get(c) if isinstance(node, dict) else None

        return get_3
    if len(parts) == 1:
        ((a, _),) = parts

        def get_list(node: Any) -> Any:
            if not isinstance(node, dict):
                return None
            items = node.get(a)
            return None if items is None else [item for item in items]

        return get_list
    if len(parts) == 2 and parts[0][1] and not parts[1][1]:
        (a, _), (b, _) = parts

        def get_list_key(node: Any) -> Any:
            if not isinstance(node, dict):
                return None
            items = node.get(a)
            if items is None:
                return None
            return [item.get(b) if isinstance(item, dict) else None for item in items]

        return get_list_key
    return functools.partial(walk, steps=parts)


_ABSENT = object()


def _gold_getter(parts: tuple[tuple[str, bool], ...]) -> Callable[[Any], Any]:
    """get_gold_path for one path: _getter, but a list element marked optional gives {"optional": value}."""
    if not any(is_list for _, is_list in parts[:-1]):
        return _getter(parts)  # no element to look into: 'a', 'a.b', 'a[]'
    if len(parts) == 2 and parts[0][1] and not parts[1][1]:
        (a, _), (b, _) = parts

        def get_list_key(node: Any) -> Any:
            if not isinstance(node, dict):
                return None
            items = node.get(a)
            if items is None:
                return None
            return [
                (_optional_element(item, b, item.get(b)) if OPTIONAL in item else item.get(b))
                if isinstance(item, dict)
                else None
                for item in items
            ]

        return get_list_key
    return functools.partial(walk, steps=parts, wrap=_optional_element)


def _reader(path: str) -> Callable[[Any], Any]:
    """has_path and get_gold_path in one call for a gold incident: the value, or _ABSENT where the gold leaves
    the field out on purpose. Unrolled for the shapes fields have."""
    parts = parse_path(path)
    get = _gold_getter(parts)
    if len(parts) == 2 and not parts[0][1] and not parts[1][1]:
        (a, _), (b, _) = parts

        def read_2(node: Any) -> Any:
            if not isinstance(node, dict) or a not in node:
                return _ABSENT
            node = node[a]
            if not isinstance(node, dict) or b not in node:
                return _ABSENT
            return node.get(b)

        return read_2
    if len(parts) == 3 and not any(is_list for _, is_list in parts):
        (a, _), (b, _), (c, _) = parts

        def read_3(node: Any) -> Any:
            if not isinstance(node, dict) or a not in node:
                return _ABSENT
            node = node[a]
            if not isinstance(node, dict) or b not in node:
                return _ABSENT
            node = node[b]
            if not isinstance(node, dict) or c not in node:
                return _ABSENT
            return node.get(c)

        return read_3
    if len(parts) == 1 or parts[0][1]:  # has_path stops at the first list
        a = parts[0][0]

        def read_top(node: Any) -> Any:
            return get(node) if isinstance(node, dict) and a in node else _ABSENT

        return read_top

    def read(node: Any) -> Any:
        return get(node) if has_path(node, path) else _ABSENT

    return read


@dataclass(frozen=True)
class _Field:
    """A FieldSpec made ready for the fast path."""

    spec: FieldSpec
    weight: float  # as similarity() reads it: by path (a repeated path has its last spec's weight)
    slot: int  # the position of its path among the document's per-path counts
    get: Callable[[Any], Any]
    read: Callable[[Any], Any]
    precision: Callable[[Any], Any] | None  # where a scalar field's gold precision lives
    is_set: bool
    dated: bool  # the gold's precision changes the outcome


def _fields(config: ScoringConfig) -> tuple[_Field, ...]:
    try:
        return _cached_fields(config)
    except TypeError:  # a configuration built with a list of fields cannot be a cache key
        return _cached_fields.__wrapped__(config)


@functools.lru_cache(maxsize=64)
def _cached_fields(config: ScoringConfig) -> tuple[_Field, ...]:
    weights = {spec.path: spec.weight for spec in config.fields}
    slots = {path: slot for slot, path in enumerate(weights)}
    return tuple(
        _Field(
            spec,
            weights[spec.path],
            slots[spec.path],
            _getter(parse_path(spec.path)),
            _reader(spec.path),
            _getter(parse_path(spec.precision_path)) if spec.precision_path and spec.kind not in SET_KINDS else None,
            spec.kind in SET_KINDS,
            spec.kind == "date",
        )
        for spec in config.fields
    )


@dataclass(slots=True)
class _Gold:
    """A gold incident ready for pairing (or the empty gold an unmatched prediction meets): per scored field
    (scored_fields), its outcome row (predicted key -> outcome), the gold value and the gold's precision."""

    fields: list[int] | None  # the scored fields' indexes; None: every field, in order
    rows: list[dict[Any, _Outcome]]
    values: list[Any]
    precisions: list[Any]
    joints: list[tuple[list[int], int]]  # joint_fields: (the dependent field's positions, its date's position)
    # key fields (key_fields) that may forbid the pair (key_agrees): a date as (field index, its days: _key_days)
    # where it sets a condition; another as (position, field index, {predicted key: agrees}), shared by every
    # gold incident of its value
    days: list[tuple[int, list[tuple[int | None, int | None]]]]
    checks: list[tuple[int, int, dict[Any, bool]]]


def _rows(tables: list[dict[Any, dict[Any, _Outcome]]], keys: list[Any]) -> list[dict[Any, _Outcome]]:
    """Each field's outcome row for its gold key, a new one where there is none yet."""
    rows = list(map(dict.get, tables, keys))
    if all(rows):
        return cast("list[dict[Any, _Outcome]]", rows)  # none is None
    return [row or table.setdefault(key, {}) for row, table, key in zip(rows, tables, keys, strict=True)]


def _similarity(outcomes: list[_Outcome]) -> float:
    """similarity() of a pair from its outcomes: the same sums in the same order."""
    total = weight = 0.0
    for outcome in outcomes:
        total += outcome[6]
        weight += outcome[7]
    return total / weight if weight else 0.0


def _as_outcome(field_: _Field, counts: Counts) -> _Outcome:
    tp, fp, fn = counts.tp, counts.fp, counts.fn
    counted = tp + fp + fn != 0
    return (
        tp,
        fp,
        fn,
        _verdict(tp, fp, fn),
        field_.spec.path,
        field_.slot,
        field_.weight * counts.agreement if counted else 0.0,
        field_.weight if counted else 0.0,
        counts,
    )


_DEMOTED = object()  # where a dependent field's outcome row keeps its outcome beside a disagreeing date


class _Scorer:
    """score_document for one configuration, remembering outcomes across the documents of a score() call."""

    def __init__(self, config: ScoringConfig) -> None:
        self.config = config
        self.fields = _fields(config)
        self.paths = list({spec.path: None for spec in config.fields})
        self.tables: list[dict[Any, dict[Any, _Outcome]]] = [{} for _ in self.fields]
        # per key field: a date's days (_key_days) by gold key and precision, another's {predicted key: agrees}
        # by gold key
        self.agreements: list[dict[Any, Any]] = [{} for _ in self.fields]
        self.ordinals: dict[Any, int | None] = {}  # _ordinal of a predicted date, by its key
        self.getters = [f.get for f in self.fields]
        self.readers = [f.read for f in self.fields]
        self.precisions = [(index, f.precision) for index, f in enumerate(self.fields) if f.precision is not None]
        self.dates = [index for index, f in enumerate(self.fields) if f.precision is not None and f.dated]
        self.ids: dict[Any, int] = {}
        paths = [f.spec.path for f in self.fields]
        self.joints = [(dependent, on) for dependent, on in joint_fields(config)]
        self.every_joint = self._joints(range(len(self.fields)))
        self.key_indexes = [paths.index(spec.path) for spec in key_fields(config)]  # the first spec of each path
        # An unmatched prediction is compared with no gold incident: every field, gold value and precision None.
        self.nothing = [None] * len(self.fields)
        self.no_gold = self._gold(None)

    def _keys(self, values: list[Any]) -> list[Any]:
        """Each value's key (_key), a structured one replaced by a number of its own: a number hashes at once,
        where a tuple would be hashed again at every look-up."""
        ids = self.ids
        return [v if type(v) is str or v is None else ids.setdefault(_key(v), len(ids)) for v in values]

    def _joints(self, indexes: Iterable[int]) -> list[tuple[list[int], int]]:
        """joint_fields as positions among a gold incident's scored fields (their indexes)."""
        paths = [self.fields[index].spec.path for index in indexes]
        joints = []
        for dependent, on in self.joints:
            positions = [position for position, path in enumerate(paths) if path == dependent]
            if positions and on in paths:
                joints.append((positions, paths.index(on)))
        return joints

    def _gold(self, incident: dict[str, Any] | None) -> _Gold:
        """The gold incident's scored fields (scored_fields), with their values (as compare_field reads them),
        and the outcome row of each (a date's also keyed by what the gold's precision decides). None: no gold."""
        values = self.nothing if incident is None else [read(incident) for read in self.readers]
        keys = [value if type(value) in _PLAIN else _key(value) for value in values]  # gold keys: used once
        precisions = [None] * len(values)
        for index, precision_of in self.precisions:
            precision = precision_of(incident) if incident else None
            precisions[index] = precision[0] if isinstance(precision, list) else precision
        days, checks = [], []
        for index in self.key_indexes:
            if values[index] is _ABSENT:
                continue
            memo = self.agreements[index]
            if self.fields[index].dated:
                key = (keys[index], _key(precisions[index]))
                if key not in memo:
                    memo[key] = _key_days(values[index], precisions[index])
                if memo[key] is not None:
                    days.append((index, memo[key]))
            else:
                checks.append((index, index, memo.setdefault(keys[index], {})))
        for index in self.dates:
            keys[index] = (keys[index], _precision_key(precisions[index]))
        if _ABSENT not in values:  # the gold leaves no field out on purpose (values are JSON: no odd __eq__)
            return _Gold(None, _rows(self.tables, keys), values, precisions, self.every_joint, days, checks)
        fields = [index for index, value in enumerate(values) if value is not _ABSENT]
        values, keys, precisions = ([items[index] for index in fields] for items in (values, keys, precisions))
        rows = _rows([self.tables[index] for index in fields], keys)
        checks = [(fields.index(index), index, known) for _, index, known in checks]
        return _Gold(fields, rows, values, precisions, self._joints(fields), days, checks)

    def _agrees(self, gold: _Gold, keys: list[Any], values: list[Any]) -> bool:
        """pair_agrees from the pair's values (key_agrees): a date's days found once per gold and predicted
        value, another field's answer remembered per gold and predicted key."""
        for index, days in gold.days:
            key = keys[index]
            day = self.ordinals.get(key, _ABSENT)
            if day is _ABSENT:
                day = self.ordinals[key] = _ordinal(values[index])
            if not _near(days, day, self.config.date_tolerance_days):  # type: ignore[arg-type]
                return False
        for position, index, known in gold.checks:
            key = keys[index]
            agrees = known.get(key)
            if agrees is None:
                spec = self.fields[index].spec
                agrees = known[key] = key_agrees(
                    spec, gold.values[position], values[index], gold.precisions[position], self.config
                )
            if not agrees:
                return False
        return True

    def _pair(self, gold: _Gold, keys: list[Any], values: list[Any]) -> list[_Outcome]:
        """The outcome of each of the gold's scored fields against a prediction (compare_incidents)."""
        if gold.fields is not None:
            keys = [keys[index] for index in gold.fields]
        found = list(map(dict.get, gold.rows, keys))
        if not all(found):  # a combination not seen yet: compared by the functions above, and remembered
            for position, outcome in enumerate(found):
                if outcome is None:
                    index = position if gold.fields is None else gold.fields[position]
                    found[position] = self._outcome(gold, position, keys[position], values[index])
        outcomes = cast("list[_Outcome]", found)  # each None was filled in above
        for positions, on in gold.joints:  # a precision right beside a wrong date is wrong (joint_fields)
            if outcomes[on][1] or outcomes[on][2]:
                for position in positions:
                    if outcomes[position][0]:
                        outcomes[position] = self._demoted(gold, position)
        return outcomes

    def _outcome(self, gold: _Gold, position: int, key: Any, value: Any) -> _Outcome:
        field_ = self.fields[position if gold.fields is None else gold.fields[position]]
        gold_value, threshold = gold.values[position], self.config.fuzzy_threshold
        if field_.is_set:
            counts = compare_set(field_.spec, gold_value, value, threshold)
        else:
            counts = compare_scalar(field_.spec, gold_value, value, threshold, gold.precisions[position])
        outcome = gold.rows[position][key] = _as_outcome(field_, counts)
        return outcome

    def _demoted(self, gold: _Gold, position: int) -> _Outcome:
        """The dependent field's outcome beside a disagreeing date: the gold value decides it, so its row keeps it."""
        row = gold.rows[position]
        outcome = row.get(_DEMOTED)
        if outcome is None:
            field_ = self.fields[position if gold.fields is None else gold.fields[position]]
            outcome = row[_DEMOTED] = _as_outcome(field_, _demoted_counts(gold.values[position]))
        return outcome

    @staticmethod
    def _results(
        gold: _Gold, outcomes: list[_Outcome], values: list[Any], totals: list[list[int]]
    ) -> list[FieldResult]:
        """The pair's FieldResults (compare_incidents), its counts added to the document's `totals`."""
        if gold.fields is not None:
            values = [values[index] for index in gold.fields]
        for tp, fp, fn, _, _, slot, _, _, _ in outcomes:
            if tp or fp or fn:
                total = totals[slot]
                total[0] += tp
                total[1] += fp
                total[2] += fn
        return [
            FieldResult(outcome[4], outcome[8], outcome[3], gold_value, value)
            for outcome, gold_value, value in zip(outcomes, gold.values, values, strict=True)
        ]

    def document(
        self, doc_id: str, gold: Sequence[dict[str, Any]], predicted: Sequence[dict[str, Any]]
    ) -> DocumentScore:
        config = self.config
        if config.scope == "all":
            gold_items = list(gold)
            pred_items = list(enumerate(predicted))
        else:
            gold_items = [g for g in gold if in_scope(config, g, is_gold=True)]
            pred_items = [(i, p) for i, p in enumerate(predicted) if in_scope(config, p, is_gold=False)]
        # The canonical order decides gold ids by position and the order of missed incidents that share an
        # id; with one gold incident or distinct ids, only a tied alignment would still depend on it.
        ids_decide = len(gold_items) > 1 and not _distinct_ids(gold_items)

        getters = self.getters
        pred_values = [[get(p) for get in getters] for _, p in pred_items]
        pred_keys = [self._keys(values) for values in pred_values]

        totals = [[0, 0, 0] for _ in self.paths]
        pairs: list[PairResult] = []
        matched_gold: set[int] = set()
        matched_pred: set[int] = set()
        golds = [self._gold(g) for g in gold_items]
        if gold_items and pred_items:
            pair, agrees = self._pair, self._agrees
            # A pair whose key fields contradict is never compared field by field: it cannot align.
            outcomes = [
                [pair(g, keys, values) if agrees(g, keys, values) else None for g in golds]
                for keys, values in zip(pred_keys, pred_values, strict=True)
            ]
            matrix = [[_INCOMPATIBLE if cell is None else _similarity(cell) for cell in row] for row in outcomes]
            chosen = None if ids_decide else _clear_assignment(matrix, config.min_similarity)
            if chosen is None:
                # Canonical order first: tied assignments are then broken the same way however the inputs
                # are ordered (a stable sort of positions by the incident's canonical text).
                gold_order = _canonical_order(gold_items)
                pred_order = _canonical_order([p for _, p in pred_items])
                gold_items = [gold_items[col] for col in gold_order]
                golds = [golds[col] for col in gold_order]
                pred_items = [pred_items[row] for row in pred_order]
                pred_keys = [pred_keys[row] for row in pred_order]
                pred_values = [pred_values[row] for row in pred_order]
                outcomes = [[outcomes[row][col] for col in gold_order] for row in pred_order]
                matrix = [[matrix[row][col] for col in gold_order] for row in pred_order]
                if len(matrix) == 1 and len(matrix[0]) == 1 and math.isfinite(matrix[0][0]):
                    chosen = [(0, 0)]  # what linear_sum_assignment answers for one finite pair
                else:
                    rows, cols = linear_sum_assignment(np.array(matrix), maximize=True)
                    chosen = list(zip(rows.tolist(), cols.tolist(), strict=True))
            for row, col in chosen:
                value = matrix[row][col]
                if value < config.min_similarity:
                    continue
                matched_pred.add(row)
                matched_gold.add(col)
                found = outcomes[row][col]
                if found is None:  # contradicting key fields, aligned only under a floor of _INCOMPATIBLE or lower
                    found = self._pair(golds[col], pred_keys[row], pred_values[row])
                fields = self._results(golds[col], found, pred_values[row], totals)
                pairs.append(PairResult(_gold_id(gold_items[col], col), pred_items[row][0], round(value, 4), fields))
        elif ids_decide:
            order = _canonical_order(gold_items)
            gold_items = [gold_items[col] for col in order]
            golds = [golds[col] for col in order]

        no_gold, nothing = self.no_gold, self.nothing
        spurious = [
            (
                index,
                self._results(no_gold, self._pair(no_gold, pred_keys[row], pred_values[row]), pred_values[row], totals),
            )
            for row, (index, _) in enumerate(pred_items)
            if row not in matched_pred
        ]
        missed = [
            (_gold_id(g, col), self._results(golds[col], self._pair(golds[col], nothing, nothing), nothing, totals))
            for col, g in enumerate(gold_items)
            if col not in matched_gold and not g.get("optional", False)
        ]
        pairs.sort(key=lambda pair: pair.pred_index)
        spurious.sort(key=lambda item: item[0])
        missed.sort(key=lambda item: item[0])
        return DocumentScore(
            doc_id,
            Counts(len(pairs), len(spurious), len(missed)),
            {path: Counts(*total) for path, total in zip(self.paths, totals, strict=True)},
            pairs,
            spurious,
            missed,
        )


def _distinct_ids(gold: list[dict[str, Any]]) -> bool:
    """Every gold incident names its id, and no two the same (so no gold id comes from a position)."""
    ids = set()
    for incident in gold:
        if not isinstance(incident, dict) or "id" not in incident:
            return False
        ids.add(_gold_id(incident, 0))
    return len(ids) == len(gold)


def _canonical_order(items: list[Any]) -> list[int]:
    """Positions in the order sorted(items, key=_canonical) puts them (the sort is stable)."""
    if len(items) < 2:
        return list(range(len(items)))
    return sorted(range(len(items)), key=lambda position: _canonical(items[position]))


_CLEAR = 1e-9  # far above the rounding of linear_sum_assignment's sums of similarities, far below any real gap


def _clear_assignment(matrix: list[list[float]], floor: float) -> list[tuple[int, int]] | None:
    """The optimal assignment's pairs at or above `floor` when no order of the inputs can change them: each
    incident on the smaller side has a partner clearly better than its others, and no two the same one. An
    incident that is as similar to every other (all key fields contradict) and under the floor is left out:
    it adds the same to every assignment and stays unmatched whatever partner it takes, so the others' optimum
    is the whole one's. None otherwise: then the canonical order and linear_sum_assignment decide, ties
    included."""
    transposed = len(matrix) > len(matrix[0])
    lines: Sequence[Sequence[float]] = list(zip(*matrix, strict=True)) if transposed else matrix
    chosen: list[tuple[int, int]] = []
    taken: set[int] = set()
    for position, line in enumerate(lines):
        best = second = -math.inf
        at = -1
        for other, value in enumerate(line):
            if not math.isfinite(value):
                return None
            if value > best:
                best, second, at = value, best, other
            elif value > second:
                second = value
        if best < floor and line.count(best) == len(line):
            continue
        if at in taken or best - second <= _CLEAR * max(1.0, abs(best)):
            return None
        taken.add(at)
        chosen.append((at, position) if transposed else (position, at))
    return chosen


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

    @property
    def matched(self) -> Counts:
        """Field counts over aligned pairs only: how right the incidents that were found are, apart from the
        incidents missed or made up (the headline of a suite whose gold codes only some kinds of incident)."""
        total = Counts()
        for document in self.documents:
            for pair in document.pairs:
                for result in pair.fields:
                    total += result.counts
        return total


def score(
    config: ScoringConfig,
    gold: Mapping[str, Sequence[dict[str, Any]]],
    predicted: Mapping[str, Sequence[dict[str, Any]]],
    doc_ids: Iterable[str] | None = None,
) -> Score:
    """Score every gold document (a document with no prediction predicts nothing)."""
    scorer = _Scorer(config)  # one for every document: outcomes found in one serve the next
    with collector_paused():
        documents = [
            scorer.document(doc_id, gold.get(doc_id, []), predicted.get(doc_id, []))
            for doc_id in (doc_ids if doc_ids is not None else gold)
        ]
    incidents = Counts()
    fields = {spec.path: Counts() for spec in config.fields}
    for document in documents:
        incidents += document.incidents
        for path, counts in document.fields.items():
            if counts.tp or counts.fp or counts.fn:
                fields[path] += counts
    return Score(documents, incidents, fields)
