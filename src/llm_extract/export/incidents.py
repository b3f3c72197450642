"""One row per incident of an incident_v1 run, in the columns conflict-event analysts load (ACLED-like), with
the normalised values beside the model's own and where each came from.

The record keeps the model's words; the line's `normalized` entries (keyed "incidents[0].date") hold what the
tool resolved from them: the date at its precision, the country code, the casualty range and, from the
gazetteer, admin1 and coordinates. Each column is documented in docs/CODEBOOK.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llm_extract.events.fusion import INCIDENT_SCHEMA
from llm_extract.export.cells import decimal, dict_at, flag, grounding_of, joined, number, safe_url, text
from llm_extract.export.records import ExportError, is_incident_line, schema_name, with_records
from llm_extract.runs.runline import RunLine


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """One incident (columns: docs/CODEBOOK.md, "incidents")."""

    record_id: str
    doc_id: str
    incident_index: int
    role: str | None
    event_date: dt.date | None
    event_date_end: dt.date | None
    time_precision: int | None
    date_precision: str | None
    date_text: str | None
    date_model: str | None
    date_status: str | None
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
    country_name: str | None
    country_model: str | None
    country_source: str | None
    country_conflict: bool | None
    admin1: str | None
    admin1_code: str | None
    location: str | None
    site: str | None
    town: str | None
    region: str | None
    location_precision: str | None
    latitude: float | None
    longitude: float | None
    geo_precision: int | None
    geo_status: str | None
    geo_reason: str | None
    fatalities: int | None
    fatalities_max: int | None
    fatalities_model_min: int | None
    fatalities_model_max: int | None
    fatalities_text: str | None
    injured: int | None
    injured_max: int | None
    injured_model_min: int | None
    injured_model_max: int | None
    injured_text: str | None
    weapons: str | None
    weapons_text: str | None
    intercepted: bool | None
    damage: str | None
    notes: str | None
    grounding: str
    grounded: int | None
    ungrounded: int | None
    ungrounded_fields: str | None
    source: str | None
    url: str | None
    published: str | None
    origin: str | None
    model: str | None
    prompt: str | None
    schema: str | None


def iso_date(value: Any) -> dt.date | None:
    """A stored ISO date ("2023-10-18"); anything else (null, a model's free text) is an empty cell."""
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def time_precision(precision: Any, start: dt.date | None, end: dt.date | None) -> int | None:
    """ACLED's time_precision: 1 the day is known, 2 within a week (a week, or a range of days up to 7), 3 a
    month or coarser (a month, a year, a longer range); empty when there is no date."""
    if start is None or precision not in ("day", "week", "month", "year"):
        return None
    span = (end - start).days if end is not None else 0
    if precision == "day" and span == 0:
        return 1
    if precision in ("day", "week") and span <= 7:
        return 2
    return 3


def weapon_cell(weapon: dict[str, Any]) -> str | None:
    """'drone (3)': a weapon's type with its count when the article gives one."""
    if not weapon.get("type"):
        return None
    count = number(weapon.get("count"))
    return f"{weapon['type']} ({count})" if count is not None else str(weapon["type"])


def objects(record: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects of a list field (an item that is not an object is no actor, target or weapon)."""
    return [item for item in record.get(key) or [] if isinstance(item, dict)]


@dataclass(frozen=True, slots=True)
class Parties:
    """Who did it and to whom, as cells: the first perpetrator is actor1 (ACLED's primary actor), the others
    its associated actors; a fused event's record has the same lists as an incident."""

    actor1: str | None
    attribution: str | None
    assoc_actors: str | None
    assoc_attributions: str | None
    claimed_by: str | None
    targets: str | None
    target_kinds: str | None
    weapons: str | None

    @classmethod
    def of(cls, record: dict[str, Any]) -> Parties:
        actors, targets = objects(record, "perpetrators"), objects(record, "targets")
        return cls(
            actor1=text(actors[0].get("name")) if actors else None,
            attribution=text(actors[0].get("attribution")) if actors else None,
            assoc_actors=joined(actor.get("name") for actor in actors[1:]),
            assoc_attributions=joined(actor.get("attribution") for actor in actors[1:]),
            claimed_by=joined(record.get("claimed_by") or []),
            targets=joined(target.get("name") for target in targets),
            target_kinds=joined(target.get("kind") for target in targets),
            weapons=joined(weapon_cell(weapon) for weapon in objects(record, "weapons")),
        )


def incident_row(line: RunLine, index: int, incident: dict[str, Any]) -> IncidentRow:
    """The row of the `index`-th incident of an ok line."""
    prefix = f"{line.list_field}[{index}]"
    normalized = line.normalized or {}
    date, place = dict_at(incident, "date"), dict_at(incident, "location")
    norm_date, norm_place = dict_at(normalized, f"{prefix}.date"), dict_at(normalized, f"{prefix}.location")
    killed, injured = dict_at(incident, "casualties", "killed"), dict_at(incident, "casualties", "injured")
    norm_killed = dict_at(normalized, f"{prefix}.casualties.killed")
    norm_injured = dict_at(normalized, f"{prefix}.casualties.injured")
    parties = Parties.of(incident)
    start, end = iso_date(norm_date.get("start")), iso_date(norm_date.get("end"))
    grounding = grounding_of(line, f"{prefix}.")
    return IncidentRow(
        record_id=f"{line.doc_id}#{index}",
        doc_id=line.doc_id,
        incident_index=index,
        role=text(incident.get("role")),
        event_date=start,
        event_date_end=end,
        time_precision=time_precision(norm_date.get("precision"), start, end),
        date_precision=text(norm_date.get("precision")),
        date_text=text(date.get("text")),
        date_model=text(date.get("start")),
        date_status=text(norm_date.get("status")),
        event_type=text(incident.get("event_type")),
        sub_event_type=text(incident.get("sub_event_type")),
        actor1=parties.actor1,
        attribution=parties.attribution,
        assoc_actors=parties.assoc_actors,
        assoc_attributions=parties.assoc_attributions,
        claimed_by=parties.claimed_by,
        targets=parties.targets,
        target_kinds=parties.target_kinds,
        country=text(norm_place.get("code")),
        country_name=text(norm_place.get("name")),
        country_model=text(place.get("country")),
        country_source=text(norm_place.get("source")),
        country_conflict=flag(norm_place.get("conflict")),
        admin1=text(norm_place.get("admin1")),
        admin1_code=text(norm_place.get("admin1_code")),
        location=text(norm_place.get("place") or place.get("town") or place.get("site")),
        site=text(place.get("site")),
        town=text(place.get("town")),
        region=text(place.get("region")),
        location_precision=text(place.get("precision")),
        latitude=decimal(norm_place.get("latitude")),
        longitude=decimal(norm_place.get("longitude")),
        geo_precision=number(norm_place.get("geo_precision")),
        geo_status=text(norm_place.get("geo_status")),
        geo_reason=text(norm_place.get("geo_reason")),
        fatalities=number(norm_killed.get("min")),
        fatalities_max=number(norm_killed.get("max")),
        fatalities_model_min=number(killed.get("min")),
        fatalities_model_max=number(killed.get("max")),
        fatalities_text=text(killed.get("text")),
        injured=number(norm_injured.get("min")),
        injured_max=number(norm_injured.get("max")),
        injured_model_min=number(injured.get("min")),
        injured_model_max=number(injured.get("max")),
        injured_text=text(injured.get("text")),
        weapons=parties.weapons,
        weapons_text=joined(weapon.get("text") for weapon in objects(incident, "weapons")),
        intercepted=flag(dict_at(incident, "outcome").get("intercepted")),
        damage=text(dict_at(incident, "outcome").get("damage")),
        notes=joined(incident.get("evidence") or []),
        grounding=grounding.status,
        grounded=grounding.found,
        ungrounded=grounding.missed,
        ungrounded_fields=grounding.missed_paths,
        source=line.source,
        url=safe_url(line.url),
        published=line.published,
        origin=line.origin,
        model=line.model,
        prompt=line.prompt.name if line.prompt is not None else None,
        schema=schema_name(line),
    )


def incident_rows(lines: Iterable[RunLine]) -> list[IncidentRow]:
    """One row per incident of every ok line of an incident_v1 run, in run order; lines that are not ok have
    none (document_rows accounts for them). A line of another schema is an error naming it: its records are
    not incidents (item_rows flattens any schema's)."""
    rows: list[IncidentRow] = []
    for given in lines:
        if not given.ok:
            continue
        if not is_incident_line(given):
            raise ExportError(
                f"document {given.doc_id} was extracted with schema {schema_name(given)}, not {INCIDENT_SCHEMA}: "
                "its records have no incident columns; use item_rows for a generic table"
            )
        line = with_records(given)
        rows += [incident_row(line, index, incident) for index, incident in enumerate(line.records)]
    return rows
