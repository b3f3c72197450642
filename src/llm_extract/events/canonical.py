"""The canonical event of a group of reports: one record, with which reports support each value and
where they disagree. `llm_extract.events.fusion` decides which reports are one event; this module builds the
event from them. Nothing calls a model.

**Picking the reported value.** Every value any report gives is kept with its reports; the reported
value follows one rule per field, and every field on which reports disagree is listed in `conflicts`
with each value and the reports that give it:

- casualties (killed, injured): the most conservative figure, as ACLED codes fatalities: the range
  with the lowest minimum (then the lowest maximum). A report that says nothing is not counted as zero.
- date: a report's period that lies inside every other report's period, so a precise report
  ("18 October") refines vaguer ones ("last week", "October"); when no period does, the reports
  disagree, and the most precise period is reported (then the one most reports give).
- sub_event_type, country, site, town, region: the value most reports give (names grouped as linking
  compares them, `incidents.same_name`; spelt as most reports spell it).
- outcome.intercepted: the value most reports give; an even split gives no value.
- weapons: every type any report names, with the lowest count reported.
- perpetrators: every actor any report names, with the weakest attribution a report gives it
  (suspected < alleged < claimed < confirmed).
- claimed_by and targets: every group or target any report names. Target names describe rather than
  identify ("U.S. forces", "coalition troops"), so they are never reported as conflicts.

A tie goes to the value of the earliest report (publication date, then article id). The record keeps
the original reports' words (date, casualties) beside each conflicting value, for the analyst.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import eq
from typing import Any, NamedTuple

from llm_extract.core.paths import set_path
from llm_extract.events.event import Conflict, ConflictValue, EventSource, FusedEvent
from llm_extract.scoring.incidents import Range, SourceIncident, name_words, same_name

ATTRIBUTION_STRENGTH = {"unknown": 0, "suspected": 1, "alleged": 2, "claimed": 3, "confirmed": 4}


class Mention(NamedTuple):
    """One value as one report gives it."""

    key: Any  # what values are grouped by (a name's words, a code, a range, a period)
    spelling: str | None = None  # the report's own spelling of a name
    detail: Any = None  # an attribute of a list item (attribution, target kind, weapon count)
    words: str | None = None  # the article's words for the value


@dataclass
class Claim:
    """One value some reports give: the reports, their spellings, their words and the items' attributes."""

    key: Any
    sources: list[str] = field(default_factory=list)
    spellings: dict[str, int] = field(default_factory=dict)  # how often each spelling is given
    words: list[str] = field(default_factory=list)
    details: list[tuple[str, Any]] = field(default_factory=list)  # (report id, attribute)

    @property
    def value(self) -> Any:
        return max(self.spellings, key=self.spellings.__getitem__) if self.spellings else self.key  # tie: the first


def _tally(
    members: Sequence[SourceIncident],
    read: Callable[[SourceIncident], Iterable[Mention]],
    same: Callable[[Any, Any], bool] = eq,
) -> list[Claim]:
    """The distinct values the reports give, most supported first; a tie keeps the earliest report's value
    first (members come earliest first, and the sort is stable)."""
    claims: list[Claim] = []
    for report in members:
        for mention in read(report):
            claim = next((claim for claim in claims if same(claim.key, mention.key)), None)
            if claim is None:
                claim = Claim(mention.key)
                claims.append(claim)
            if report.id not in claim.sources:
                claim.sources.append(report.id)
            if mention.spelling:
                claim.spellings[mention.spelling] = claim.spellings.get(mention.spelling, 0) + 1
            if mention.words and mention.words not in claim.words:
                claim.words.append(mention.words)
            if mention.detail is not None:
                claim.details.append((report.id, mention.detail))
    return sorted(claims, key=lambda claim: -len(claim.sources))


def _split(details: list[tuple[str, Any]]) -> list[Claim]:
    """A list item's attribute as each report gives it, grouped by value (most supported first)."""
    claims: dict[Any, Claim] = {}
    for report_id, value in details:
        claim = claims.setdefault(value, Claim(value))
        if report_id not in claim.sources:
            claim.sources.append(report_id)
    return sorted(claims.values(), key=lambda claim: -len(claim.sources))


def _values(claims: list[Claim], show: Callable[[Claim], Any] = lambda claim: claim.value) -> list[ConflictValue]:
    """A conflict's values: each with the reports that give it and, where kept, their words."""
    return [ConflictValue(show(c), c.sources, c.words or None) for c in claims]


def _set_conflict(members: Sequence[SourceIncident], claims: list[Claim]) -> list[ConflictValue] | None:
    """For list fields: the set of items each report names, when the reports that name any disagree."""
    sets: defaultdict[tuple[int, ...], list[str]] = defaultdict(list)
    for report in members:
        named = tuple(n for n, claim in enumerate(claims) if report.id in claim.sources)
        if named:
            sets[named].append(report.id)
    if len(sets) < 2:
        return None
    return [ConflictValue([claims[n].value for n in named], ids) for named, ids in sets.items()]


class Picked(NamedTuple):
    value: Any
    sources: list[str]
    conflict: list[ConflictValue] | None = None  # every value with its reports, when reports disagree


def _majority(claims: list[Claim], split_gives_none: bool = False) -> Picked:
    if not claims:
        return Picked(None, [])
    conflict = _values(claims) if len(claims) > 1 else None
    if split_gives_none and conflict and len(claims[0].sources) == len(claims[1].sources):
        return Picked(None, [], conflict)
    return Picked(claims[0].value, claims[0].sources, conflict)


def _as_range(claim: Claim) -> dict[str, int | None]:
    return {"min": claim.key[0], "max": claim.key[1]}


def _pick_casualties(members: Sequence[SourceIncident], key: str) -> Picked:
    def read(report: SourceIncident) -> list[Mention]:
        figure: Range | None = getattr(report, key)
        return [] if figure is None else [Mention((figure.min, figure.max), words=figure.words)]

    claims = _tally(members, read)
    if not claims:
        return Picked(None, [])
    lowest = min(claims, key=lambda c: (c.key[0] or 0, float("inf") if c.key[1] is None else c.key[1]))
    return Picked(_as_range(lowest), lowest.sources, _values(claims, _as_range) if len(claims) > 1 else None)


def _pick_date(members: Sequence[SourceIncident]) -> Picked:
    """A period inside every report's period refines them (no conflict); otherwise the reports disagree."""
    periods = {report.id: report.period for report in members if report.period is not None}
    dated = [report for report in members if report.id in periods]
    claims = _tally(
        dated, lambda r: [Mention(r.period, detail=r.date, words=(r.incident.get("date") or {}).get("text"))]
    )
    if not claims:
        return Picked(None, [])
    shown: Callable[[Claim], Any] = lambda claim: claim.details[0][1]  # noqa: E731
    inside_all = [c for c in claims if all(p[0] <= c.key[0] and c.key[1] <= p[1] for p in periods.values())]
    if inside_all:  # nested periods: the narrowest is what every report allows
        return Picked(shown(inside_all[0]), list(periods))
    best = min(claims, key=lambda c: (c.key[1] - c.key[0], -len(c.sources)))  # stable: ties go to the earliest
    return Picked(shown(best), best.sources, _values(claims, shown))


def _pick_place(members: Sequence[SourceIncident], key: str, threshold: float) -> Picked:
    def read(report: SourceIncident) -> list[Mention]:
        words = getattr(report, key)
        return [] if words is None else [Mention(words, (report.incident.get("location") or {}).get(key))]

    return _majority(_tally(members, read, lambda x, y: same_name(x, y, threshold)))


def _weakest(given: list[Claim]) -> Any:
    return min((claim.key for claim in given), key=lambda value: ATTRIBUTION_STRENGTH.get(value, 0), default=None)


def _most(given: list[Claim]) -> Any:
    return given[0].key if given else None


def _lowest(given: list[Claim]) -> Any:
    return min((claim.key for claim in given), default=None)


RULES = {
    "most": "the value most reports give",
    "casualties": "the most conservative figure (the lowest), as ACLED codes fatalities",
    "date": "the most precise period (then the one most reports give)",
    "intercepted": "the value most reports give; an even split gives none",
    "items": "every item any report names",
    "attribution": "the weakest attribution a report gives",
    "count": "the lowest count reported",
}


@dataclass
class Canonical:
    """The reported values (in the record's shape), which reports support each, and the conflicts."""

    record: dict[str, Any] = field(default_factory=dict)
    support: dict[str, list[str]] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)

    def conflict(self, path: str, reported: Any, rule: str, values: list[ConflictValue]) -> None:
        self.conflicts.append(Conflict(path, reported, rule, values))

    def put(self, path: str, picked: Picked, rule: str) -> None:
        set_path(self.record, path, picked.value)
        if picked.sources:
            self.support[path] = picked.sources
        if picked.conflict:
            self.conflict(path, picked.value, rule, picked.conflict)

    def put_items(
        self,
        members: Sequence[SourceIncident],
        path: str,
        claims: list[Claim],
        attribute: tuple[str, str] | None,
        choose: Callable[[list[Claim]], Any],
        rule: str,
        conflicts: bool,
    ) -> None:
        """A list field: every item any report names with its support, its attribute picked by `choose`."""
        items: list[Any] = []
        for claim in claims:
            self.support[f"{path}[{claim.value}]"] = claim.sources
            if attribute is None:
                items.append(claim.value)
                continue
            label, name = attribute
            given = _split(claim.details)
            chosen = choose(given)
            items.append({label: claim.value, name: chosen})
            if conflicts and len(given) > 1:
                self.conflict(f"{path}[{claim.value}].{name}", chosen, rule, _values(given))
        self.record[path] = items
        if conflicts and (sets := _set_conflict(members, claims)):
            self.conflict(path, [c.value for c in claims], RULES["items"], sets)


def _scalar(read: Callable[[SourceIncident], Any]) -> Callable[[SourceIncident], list[Mention]]:
    """Reads one value per report (none when it is null)."""
    return lambda report: [] if (value := read(report)) is None else [Mention(value)]


def _named_items(path: str, attribute: str | None) -> Callable[[SourceIncident], Iterator[Mention]]:
    """Reads the names (and one attribute) of a list of actors, claimants or targets."""

    def read(report: SourceIncident) -> Iterator[Mention]:
        for item in report.incident.get(path) or []:
            text = item.get("name") if isinstance(item, dict) else item
            words = name_words(text)
            if words is not None:
                detail = item.get(attribute) if attribute and isinstance(item, dict) else None
                yield Mention(words, text, detail)

    return read


def canonical_record(members: Sequence[SourceIncident], fuzzy_threshold: float) -> Canonical:
    """The event's values by the module doc's rules, with support and conflicts. `members`: earliest first."""
    canonical = Canonical()
    same = lambda x, y: same_name(x, y, fuzzy_threshold)  # noqa: E731
    sub_types = _tally(members, _scalar(lambda r: r.incident.get("sub_event_type")))
    canonical.put("sub_event_type", _majority(sub_types), RULES["most"])
    kind = canonical.record["sub_event_type"]
    stored = {r.incident.get("event_type") for r in members if r.incident.get("sub_event_type") == kind} - {None}
    if len(stored) == 1:
        canonical.record["event_type"] = stored.pop()  # the schema derives it from sub_event_type
    canonical.put("date", _pick_date(members), RULES["date"])
    for key in ("site", "town", "region"):
        canonical.put(f"location.{key}", _pick_place(members, key, fuzzy_threshold), RULES["most"])
    countries = _tally(members, _scalar(lambda r: r.country))
    canonical.put("location.country", _majority(countries), RULES["most"])
    weapons = _tally(members, lambda r: [Mention(kind, detail=count) for kind, count in r.weapons.items()])
    weapons.sort(key=lambda claim: str(claim.key))
    canonical.put_items(members, "weapons", weapons, ("type", "count"), _lowest, RULES["count"], conflicts=True)
    for path, attribute, choose, rule, conflicts in (
        ("perpetrators", "attribution", _weakest, RULES["attribution"], True),
        ("claimed_by", None, _most, RULES["items"], True),
        ("targets", "kind", _most, RULES["most"], False),  # target names describe rather than identify
    ):
        claims = _tally(members, _named_items(path, attribute), same)
        label = None if attribute is None else ("name", attribute)
        canonical.put_items(members, path, claims, label, choose, rule, conflicts)
    intercepted = _tally(members, _scalar(lambda r: (r.incident.get("outcome") or {}).get("intercepted")))
    canonical.put("outcome.intercepted", _majority(intercepted, split_gives_none=True), RULES["intercepted"])
    for key in ("killed", "injured"):
        canonical.put(f"casualties.{key}", _pick_casualties(members, key), RULES["casualties"])
    return canonical


def event_id(report_ids: Iterable[str]) -> str:
    """A stable id from the member reports: the same group gets the same id in every run."""
    return "ev-" + hashlib.sha256("\n".join(sorted(report_ids)).encode()).hexdigest()[:12]


def build_event(reports: Iterable[SourceIncident], fuzzy_threshold: float) -> FusedEvent:
    """A group's event: its id, the canonical record with support and conflicts, its articles and its
    reports (earliest first). `fusion` adds how the reports were linked."""
    members = sorted(reports, key=lambda report: report.order)
    canonical = canonical_record(members, fuzzy_threshold)
    return FusedEvent(
        event_id=event_id(report.id for report in members),
        record=canonical.record,
        support=canonical.support,
        conflicts=canonical.conflicts,
        articles=sorted({report.doc_id for report in members}),
        sources=[EventSource(report.id, report.doc_id, report.index, report.meta) for report in members],
    )
