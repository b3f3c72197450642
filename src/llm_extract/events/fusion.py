"""Cross-article fusion: reports of the same attack from different articles become one canonical event.

Analysts code one event per attack, not one per article. `fuse` groups the incidents of one or more
stored runs that report the same real-world event and gives each group one record with provenance:
which reports support each value, and where they disagree. Nothing calls a model.

**Linking.**

- *Hard constraints.* Two reports can be one event only if they come from different articles (an
  article that lists two incidents means two), both are dated, their dates are compatible and their
  countries do not differ (an unknown country differs from none). A report's date is the normalised
  period when `normalized` resolved the article's words, else the model's date at its precision (the
  day, the ISO week, the month, the year); a model date whose precision is "unknown" is read as the
  7 days around it. Two periods are compatible when they overlap once widened by `date_slack_days`
  (reports of one attack differ by a day around midnight). An undated report is never linked: nothing
  places it in time.
- *Blocking.* The candidate pairs are exactly the pairs that meet the hard constraints, found without
  comparing all pairs: reports are grouped by country (a report with no country joins every group) and
  an interval sweep over each group's sorted periods yields only the overlapping pairs. The cost grows
  with the number of reports close in time and place, not with the square of all reports.
- *Similarity.* A candidate pair's score sums the evidence (record linkage in the Fellegi-Sunter
  manner, with hand-set weights); a field missing on either side adds nothing:

  | evidence | agree | disagree |
  |---|---|---|
  | date: the same day / a day apart / overlapping periods | +3 / +1.5 / +1 | (a hard constraint) |
  | country | +1 | (a hard constraint) |
  | site (a named base or building) | +4 | -4 |
  | town | +2 | -2 |
  | region | +1.5 | -1.5 |
  | sub_event_type | +1.5 | -1 |
  | weapon types: share one / none shared | +1 | -1 |
  | weapon counts of a shared type | +0.5 | -0.5 |
  | actors (perpetrators and claimants): share one / none shared | +1.5 | -1 |

  Places and actors are compared as names (`scoring.normalise_name`, then every word of the shorter
  name must match a word of the longer one, exactly or with rapidfuzz ratio >= `fuzzy_threshold`, so
  "al-Asad airbase" is "Ain al-Assad airbase" and "northern Iraq" is "northern Iraq's Kurdish region").
  Facility words (base, airbase, military, ...) and a trailing "in western Iraq" do not name a site,
  and "a base in western Iraq" or "a second base" describes one without naming it.
- *Clustering.* Pairs scoring at least `threshold` are taken strongest first (ties by report id). Two
  groups merge only if they share no article, every cross pair is a candidate and the mean cross score
  is at least `threshold` (average linkage), so a chain of links cannot join the attacks on two bases
  reported the same day. Reports are put in a canonical order first: the result does not depend on the
  order of the input.

**The canonical event** of each group (its values, their support, the conflicts): `llm_extract.events.canonical`.

A model adjudicating borderline merges is not implemented: an event whose weakest merge scored within
`borderline_margin` of the threshold is marked `borderline` for a person (or a later model step) to check.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.gc_pause import collector_paused
from llm_extract.events.canonical import build_event
from llm_extract.events.event import FusedEvent, Link
from llm_extract.extraction.normalize.dates import Precision, period_range
from llm_extract.runs.runline import RunLine
from llm_extract.runs.store import line_warning, read_run, record_problem
from llm_extract.scoring.fields import as_date
from llm_extract.scoring.incidents import Name, Period, Range, SourceIncident, name_words, same_name

if TYPE_CHECKING:
    from llm_extract.extraction.schema_loader import SchemaSpec

INCIDENT_SCHEMA = "incident_v1"  # the schema whose records fusion reads
UNKNOWN_PRECISION_DAYS = 3  # a model date with precision "unknown" stands for the 7 days around it


class FusionError(LLMExtractError):
    """The runs given to `fuse` cannot be fused as they are."""


@dataclass(frozen=True)
class FusionConfig:
    threshold: float = 4.0  # evidence a pair (and the mean of two groups' cross pairs) needs to merge
    date_slack_days: int = 1  # periods this close still overlap
    fuzzy_threshold: float = 85.0  # rapidfuzz ratio at which two words of a name are the same
    borderline_margin: float = 1.5  # events whose weakest merge is this close to the threshold are flagged


# ---- reading reports ------------------------------------------------------------------------


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _widened(precision: Any) -> TypeGuard[Precision]:
    """Whether a model date's precision widens it to its whole week, month or year (period_range)."""
    return precision in {"week", "month", "year"}


def _date_period(incident: dict[str, Any], normalized: dict[str, Any]) -> tuple[Period, dict[str, str]] | None:
    """The period linking uses and the date as the report gives it: the normalised period when resolved,
    else the model's date widened to its precision."""
    resolved = normalized.get("date") or {}
    if resolved.get("status") == "resolved":
        period = (dt.date.fromisoformat(resolved["start"]), dt.date.fromisoformat(resolved["end"]))
        return period, {"start": resolved["start"], "end": resolved["end"], "precision": resolved["precision"]}
    date = incident.get("date") or {}
    start = as_date(date.get("start")) if date.get("start") else None
    if start is None:
        return None
    end = max(as_date(date.get("end")) or start, start) if date.get("end") else start
    precision = date.get("precision") or "unknown"
    if _widened(precision):
        period = (period_range(start, precision)[0], period_range(end, precision)[1])
    elif precision == "day":
        period = (start, end)
    else:
        slack = dt.timedelta(days=UNKNOWN_PRECISION_DAYS)
        period, precision = (start - slack, end + slack), "unknown"
        return period, {"start": _iso(start), "end": _iso(end), "precision": precision}
    return period, {"start": _iso(period[0]), "end": _iso(period[1]), "precision": precision}


def _casualties(incident: dict[str, Any], normalized: dict[str, Any], key: str) -> Range | None:
    """The article's words as normalised when resolved, else the model's own min and max."""
    count = ((incident.get("casualties") or {}).get(key)) or {}
    resolved = normalized.get(f"casualties.{key}") or {}
    if resolved.get("status") == "resolved":
        low, high = resolved.get("min"), resolved.get("max")
    else:
        low, high = count.get("min"), count.get("max")
    if low is None and high is None:
        return None
    return Range(low, high, count.get("text"))


def _names(items: Iterable[Any]) -> list[Name]:
    return [words for words in (name_words(item) for item in items) if words is not None]


def source_incident(
    report_id: str,
    doc_id: str,
    index: int,
    incident: dict[str, Any],
    normalized: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> SourceIncident:
    """A report from one incident record; `normalized` holds its own entries ('date', 'location', ...)."""
    normalized = normalized or {}
    dated = _date_period(incident, normalized)
    location = incident.get("location") or {}
    code = (normalized.get("location") or {}).get("code") or location.get("country")
    perpetrators = [actor.get("name") for actor in incident.get("perpetrators") or [] if isinstance(actor, dict)]
    weapons: dict[str, int | None] = {}
    for weapon in incident.get("weapons") or []:
        kind, count = weapon.get("type"), weapon.get("count")
        if kind:
            known = weapons.get(kind)
            weapons[kind] = count if known is None else known + (count or 0)
    return SourceIncident(
        id=report_id,
        doc_id=doc_id,
        index=index,
        incident=incident,
        period=dated[0] if dated else None,
        date=dated[1] if dated else None,
        country=code if isinstance(code, str) and code else None,
        killed=_casualties(incident, normalized, "killed"),
        injured=_casualties(incident, normalized, "injured"),
        meta=meta or {},
        site=name_words(location.get("site"), site=True),
        town=name_words(location.get("town")),
        region=name_words(location.get("region")),
        sub_event_type=incident.get("sub_event_type"),
        actors=tuple(dict.fromkeys(_names([*perpetrators, *(incident.get("claimed_by") or [])]))),
        weapons=weapons,
    )


@functools.cache
def incident_schema() -> SchemaSpec:
    from llm_extract.extraction.schema_loader import load_schema  # the schema fusion reads (no import cycle at load)

    return load_schema(INCIDENT_SCHEMA)


def source_incidents(
    lines: Iterable[RunLine | Mapping[str, Any]], origin: str = "run"
) -> tuple[list[SourceIncident], list[str]]:
    """The reports of every `ok` line of a stored run, and the ids of the lines that are not ok (a line may
    also be given as its JSON object)."""
    list_field = incident_schema().list_field
    reports: list[SourceIncident] = []
    skipped: list[str] = []
    for given in lines:
        line = RunLine.coerce(given, list_field)
        doc_id = line.doc_id
        if not line.ok:
            skipped.append(doc_id)
            continue
        incidents = line.items if line.list_field == list_field else None
        if not isinstance(incidents, list):
            refusal = f"has no '{list_field}' list; fuse reads runs of the {INCIDENT_SCHEMA} schema"
            raise FusionError(f"{origin}: document {doc_id} {refusal}")
        normalized = line.normalized or {}
        meta = {"origin": line.origin, "published": line.published, "url": line.url, "source": line.source}
        for index, incident in enumerate(incidents):
            prefix = f"{list_field}[{index}]."
            own = {key.removeprefix(prefix): value for key, value in normalized.items() if key.startswith(prefix)}
            extra = {"role": incident.get("role"), "evidence": incident.get("evidence") or []}
            reports.append(source_incident(f"{doc_id}#{index}", doc_id, index, incident, own, meta | extra))
    return reports, skipped


@dataclass
class RunReports:
    """What one stored run gives fusion."""

    reports: list[SourceIncident]
    not_ok: list[str]  # ids of the documents that ended invalid or error
    warnings: list[str]  # "file:line: reason; line skipped", in line order


def run_incidents(path: Path) -> RunReports:
    """The reports of a stored run, read by store.read_run: malformed lines are skipped and named by line
    number (a missing, empty or wholly unusable file raises); a run of another schema is refused."""
    spec = incident_schema()
    list_field = spec.list_field
    lines = read_run(path)
    numbered = [(number, line.under(list_field)) for number, line in lines.numbered()]
    ok = [line for _, line in numbered if line.ok]
    if ok and not any(line.list_field == list_field for line in ok):
        refusal = f"no line has an '{list_field}' list; fuse reads runs of the {INCIDENT_SCHEMA} schema"
        raise FusionError(f"{path}: {refusal}")
    problems = [(p.line, p.reason) for p in lines.problems]
    usable = []
    for number, line in numbered:
        problem = record_problem(line.to_dict(), list_field, spec.json_schema)
        if problem is None:
            usable.append(line)
        else:
            problems.append((number, problem))
    reports, not_ok = source_incidents(usable, str(path))
    warnings = [line_warning(path, number, reason) for number, reason in sorted(problems)]
    return RunReports(reports, not_ok, warnings)


# ---- linking --------------------------------------------------------------------------------


def compatible(a: SourceIncident, b: SourceIncident, config: FusionConfig) -> bool:
    """The hard constraints: different articles, both dated, periods overlapping, countries not differing."""
    if a.doc_id == b.doc_id or a.period is None or b.period is None:
        return False
    if a.country is not None and b.country is not None and a.country != b.country:
        return False
    slack = dt.timedelta(days=config.date_slack_days)
    return a.period[0] - slack <= b.period[1] and b.period[0] - slack <= a.period[1]


Span = tuple[int, int, int]  # first day, last day (ordinals), report index


def _sweep(spans: list[Span], slack: int) -> Iterator[tuple[int, int]]:
    """Pairs of reports whose periods overlap within `slack` days: sorted by first day, each scans forward
    only as far as its own last day reaches, so every pair scanned is a pair yielded."""
    spans = sorted(spans)
    for position, (_, end, i) in enumerate(spans):
        for later in range(position + 1, len(spans)):
            start, _, j = spans[later]
            if start > end + slack:
                break
            yield (i, j) if i < j else (j, i)


def candidate_pairs(reports: Sequence[SourceIncident], config: FusionConfig) -> list[tuple[int, int]]:
    """Every pair (by index, i < j) that meets the hard constraints, without comparing all pairs (see module doc)."""
    by_country: defaultdict[str | None, list[Span]] = defaultdict(list)
    for index, report in enumerate(reports):
        if report.period is not None:
            by_country[report.country].append((report.period[0].toordinal(), report.period[1].toordinal(), index))
    unplaced = by_country.pop(None, [])  # no country: a candidate in every country
    unplaced_indices = {index for _, _, index in unplaced}
    pairs: list[tuple[int, int]] = []
    for spans in by_country.values():
        sweep = _sweep(spans + unplaced, config.date_slack_days)
        pairs += [(i, j) for i, j in sweep if i not in unplaced_indices or j not in unplaced_indices]
    pairs += _sweep(unplaced, config.date_slack_days)  # unplaced with unplaced: once, not once per country
    return sorted((i, j) for i, j in pairs if reports[i].doc_id != reports[j].doc_id)


def _date_points(a: Period, b: Period, slack: int) -> float:
    if a[0] == a[1] and b[0] == b[1]:
        gap = abs((a[0] - b[0]).days)
        return 3.0 if gap == 0 else 1.5 if gap <= slack else 1.0
    return 1.0


def _place_points(x: Name | None, y: Name | None, agree: float, threshold: float) -> float | None:
    if x is None or y is None:
        return None
    return agree if same_name(x, y, threshold) else -agree


def evidence(a: SourceIncident, b: SourceIncident, config: FusionConfig) -> dict[str, float]:
    """What each field says about a candidate pair (of dated reports) being one event: the module doc's table."""
    assert a.period is not None and b.period is not None, "only candidate pairs (both dated) are scored"
    threshold = config.fuzzy_threshold
    parts = {
        "date": _date_points(a.period, b.period, config.date_slack_days),
        "country": 1.0 if a.country and b.country else None,
        "site": _place_points(a.site, b.site, 4.0, threshold),
        "town": _place_points(a.town, b.town, 2.0, threshold),
        "region": _place_points(a.region, b.region, 1.5, threshold),
        "sub_event_type": None if not (a.sub_event_type and b.sub_event_type)
        else 1.5 if a.sub_event_type == b.sub_event_type else -1.0,
        "actors": None if not (a.actors and b.actors)
        else 1.5 if any(same_name(x, y, threshold) for x in a.actors for y in b.actors) else -1.0,
    }  # fmt: skip
    if a.weapons and b.weapons:
        shared = a.weapons.keys() & b.weapons.keys()
        parts["weapons"] = 1.0 if shared else -1.0
        counted = [(a.weapons[k], b.weapons[k]) for k in shared if a.weapons[k] and b.weapons[k]]
        if counted:
            parts["weapon_count"] = 0.5 if all(x == y for x, y in counted) else -0.5
    return {name: points for name, points in parts.items() if points is not None}


def score(a: SourceIncident, b: SourceIncident, config: FusionConfig) -> float:
    return sum(evidence(a, b, config).values())


@dataclass
class Group:
    """A cluster being built: its reports (indices, sorted), their articles, and how weakly it holds."""

    members: list[int]
    articles: set[str]
    weakest_merge: float | None = None  # the lowest mean cross score among the merges that built it


def cluster(
    reports: Sequence[SourceIncident], scores: dict[tuple[int, int], float], config: FusionConfig
) -> list[Group]:
    """Constrained average-linkage clustering over the scored candidate pairs (see module doc)."""
    owner = list(range(len(reports)))
    groups = {i: Group([i], {report.doc_id}) for i, report in enumerate(reports)}
    strong = sorted((pair for pair, value in scores.items() if value >= config.threshold),
                    key=lambda pair: (-scores[pair], pair))  # fmt: skip  # ties: the reports' canonical order
    for i, j in strong:
        first, second = groups[owner[i]], groups[owner[j]]
        if first is second or first.articles & second.articles:
            continue
        try:
            cross = [scores[(x, y) if x < y else (y, x)] for x in first.members for y in second.members]
        except KeyError:
            continue  # a cross pair the hard constraints rule out
        mean = sum(cross) / len(cross)
        if mean < config.threshold:
            continue
        keep, drop = (owner[i], owner[j]) if len(first.members) >= len(second.members) else (owner[j], owner[i])
        kept, dropped = groups[keep], groups.pop(drop)
        for member in dropped.members:
            owner[member] = keep
        kept.members = sorted(kept.members + dropped.members)
        kept.articles |= dropped.articles
        weakest = [w for w in (kept.weakest_merge, dropped.weakest_merge, mean) if w is not None]
        kept.weakest_merge = min(weakest)
    return sorted(groups.values(), key=lambda group: group.members[0])


# ---- fusing ---------------------------------------------------------------------------------


def _event(
    group: Group, reports: Sequence[SourceIncident], scores: dict[tuple[int, int], float], config: FusionConfig
) -> FusedEvent:
    """A group's canonical event (`canonical.build_event`) and how its reports were linked."""
    links = [
        Link([reports[i].id, reports[j].id], round(scores[(i, j)], 3), evidence(reports[i], reports[j], config))
        for position, i in enumerate(group.members) for j in group.members[position + 1 :]
    ]  # fmt: skip
    borderline = group.weakest_merge is not None and group.weakest_merge < config.threshold + config.borderline_margin
    return replace(
        build_event((reports[i] for i in group.members), config.fuzzy_threshold),
        links=links,
        weakest_merge=None if group.weakest_merge is None else round(group.weakest_merge, 3),
        borderline=borderline,
    )


@dataclass
class Fusion:
    """Canonical events (sorted by date, then country, then id), their member report ids, and counts."""

    events: list[FusedEvent]
    clusters: list[list[str]]
    stats: dict[str, Any]


def _event_order(event: FusedEvent) -> tuple[str, str, str]:
    record = event.record
    return ((record.get("date") or {}).get("start") or "9999", record["location"].get("country") or "",
            event.event_id)  # fmt: skip


def fuse(reports: Iterable[SourceIncident], config: FusionConfig | None = None) -> Fusion:
    """Group reports of the same event and build one canonical event per group (deterministic)."""
    with collector_paused():
        return _fuse(reports, config or FusionConfig())


def _fuse(reports: Iterable[SourceIncident], config: FusionConfig) -> Fusion:
    started = time.perf_counter()
    ordered = sorted(reports, key=lambda report: (report.doc_id, report.index, report.id))
    seen: set[str] = set()
    for report in ordered:
        if report.id in seen:
            raise FusionError(f"report {report.id} is given twice: give each article's run once")
        seen.add(report.id)
    pairs = candidate_pairs(ordered, config)
    scores = {pair: score(ordered[pair[0]], ordered[pair[1]], config) for pair in pairs}
    groups = cluster(ordered, scores, config)
    events = sorted((_event(group, ordered, scores, config) for group in groups), key=_event_order)
    clusters = [event.reports for event in events]
    n = len(ordered)
    stats = {
        "reports": n,
        "articles": len({report.doc_id for report in ordered}),
        "undated": sum(1 for report in ordered if report.period is None),
        "all_pairs": n * (n - 1) // 2,
        "candidate_pairs": len(pairs),
        "linked_pairs": sum(1 for value in scores.values() if value >= config.threshold),
        "events": len(events),
        "multi_report_events": sum(1 for members in clusters if len(members) > 1),
        "events_with_conflicts": sum(1 for event in events if event.conflicts),
        "borderline_events": sum(1 for event in events if event.borderline),
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Fusion(events, clusters, stats)
