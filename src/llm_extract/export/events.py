"""One row per fused event (`llm-extract fuse`'s events.jsonl), in the incident table's columns where the
canonical record has them, with the reports and articles behind it.

The canonical record's values are already normalised (fusion reads the normalised date, country and casualty
ranges of its reports), so an event row has one value per column, not the model's beside the tool's; the
disagreements between reports are named in `conflicts` (each value and its reports stay in events.jsonl).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from llm_extract.events.event import FusedEvent
from llm_extract.export.cells import decimal, dict_at, flag, joined, number, safe_url, text
from llm_extract.export.incidents import Parties, iso_date, time_precision


@dataclass(frozen=True, slots=True)
class EventRow:
    """One fused event (columns: docs/CODEBOOK.md, "events")."""

    event_id: str
    event_date: dt.date | None
    event_date_end: dt.date | None
    time_precision: int | None
    date_precision: str | None
    event_type: str | None
    sub_event_type: str | None
    actor1: str | None
    attribution: str | None
    assoc_actors: str | None
    assoc_attributions: str | None
    claimed_by: str | None
    targets: str | None
    target_kinds: str | None
    country: str | None
    admin1: str | None
    admin1_code: str | None
    location: str | None
    site: str | None
    town: str | None
    region: str | None
    latitude: float | None
    longitude: float | None
    geo_precision: int | None
    fatalities: int | None
    fatalities_max: int | None
    injured: int | None
    injured_max: int | None
    weapons: str | None
    intercepted: bool | None
    notes: str | None
    reports: int
    articles: int
    record_ids: str | None
    doc_ids: str | None
    sources: str | None
    urls: str | None
    published: str | None
    conflicts: str | None
    weakest_merge: float | None
    borderline: bool


def event_row(event: FusedEvent) -> EventRow:
    record = event.record
    date, place = dict_at(record, "date"), dict_at(record, "location")
    killed, injured = dict_at(record, "casualties", "killed"), dict_at(record, "casualties", "injured")
    start, end = iso_date(date.get("start")), iso_date(date.get("end"))
    parties = Parties.of(record)
    metas = [source.meta for source in event.sources]
    published = sorted(str(meta["published"]) for meta in metas if meta.get("published"))
    return EventRow(
        event_id=event.event_id,
        event_date=start,
        event_date_end=end,
        time_precision=time_precision(date.get("precision"), start, end),
        date_precision=text(date.get("precision")),
        event_type=text(record.get("event_type")),
        sub_event_type=text(record.get("sub_event_type")),
        actor1=parties.actor1,
        attribution=parties.attribution,
        assoc_actors=parties.assoc_actors,
        assoc_attributions=parties.assoc_attributions,
        claimed_by=parties.claimed_by,
        targets=parties.targets,
        target_kinds=parties.target_kinds,
        country=text(place.get("country")),
        admin1=text(place.get("admin1")),
        admin1_code=text(place.get("admin1_code")),
        location=text(place.get("place") or place.get("town") or place.get("site")),
        site=text(place.get("site")),
        town=text(place.get("town")),
        region=text(place.get("region")),
        latitude=decimal(place.get("latitude")),
        longitude=decimal(place.get("longitude")),
        geo_precision=number(place.get("geo_precision")),
        fatalities=number(killed.get("min")),
        fatalities_max=number(killed.get("max")),
        injured=number(injured.get("min")),
        injured_max=number(injured.get("max")),
        weapons=parties.weapons,
        intercepted=flag(dict_at(record, "outcome").get("intercepted")),
        notes=joined(quote for meta in metas for quote in meta.get("evidence") or []),
        reports=len(event.sources),
        articles=len(event.articles),
        record_ids=joined(event.reports),
        doc_ids=joined(event.articles),
        sources=joined(dict.fromkeys(meta.get("source") for meta in metas)),
        urls=joined(dict.fromkeys(safe_url(meta.get("url")) for meta in metas)),
        published=published[0] if published else None,
        conflicts=joined(conflict.field for conflict in event.conflicts),
        weakest_merge=event.weakest_merge,
        borderline=event.borderline,
    )


def event_rows(events: Iterable[FusedEvent]) -> list[EventRow]:
    """One row per fused event, in the file's order."""
    return [event_row(event) for event in events]
