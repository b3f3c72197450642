"""Build the muc4-incidents suite: MUC-4's human-coded answer keys mapped onto incident_v1.

    .venv/bin/python evals/muc4-incidents/build.py [--source PATH]

Reads the 200 MUC-4 development documents with their original 25-slot keys (dev_full.jsonl, see
../../../shared/data/muc4/README.md) and writes, beside this file, docs.jsonl (the original-case text with its
dateline, and the publication date the dateline gives) and gold.jsonl (one line per document, its templates
mapped onto the incident_v1 gold format of evals/seeds). Deterministic: the same source gives the same bytes.
MAPPING.md states every rule; each function below names the rule it implements.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "data" / "muc4" / "dev_full.jsonl"
SOURCE_SHA256 = "54d0e4683691a66d01390b6a49f5d57dcc19eca2ece57cadb21d87143f5bbfc4"  # dev_full.jsonl as built from

# ---- the key's slots ------------------------------------------------------------------------------------------

DATE = "2. INCIDENT: DATE"
LOCATION = "3. INCIDENT: LOCATION"
TYPE = "4. INCIDENT: TYPE"
STAGE = "5. INCIDENT: STAGE OF EXECUTION"
INSTRUMENT_ID = "6. INCIDENT: INSTRUMENT ID"
INSTRUMENT_TYPE = "7. INCIDENT: INSTRUMENT TYPE"
PERP_INDIVIDUAL = "9. PERP: INDIVIDUAL ID"
PERP_ORGANIZATION = "10. PERP: ORGANIZATION ID"
PERP_CONFIDENCE = "11. PERP: ORGANIZATION CONFIDENCE"
PHYS_ID = "12. PHYS TGT: ID"
PHYS_TYPE = "13. PHYS TGT: TYPE"
HUM_NAME = "18. HUM TGT: NAME"
HUM_DESCRIPTION = "19. HUM TGT: DESCRIPTION"
HUM_TYPE = "20. HUM TGT: TYPE"
HUM_NUMBER = "21. HUM TGT: NUMBER"
HUM_EFFECT = "23. HUM TGT: EFFECT OF INCIDENT"
HUM_TOTAL = "24. HUM TGT: TOTAL NUMBER"

# ---- closed vocabularies: the key's fills -> incident_v1 (MAPPING.md says why) ----------------------------------

COUNTRIES = {
    "ARGENTINA": "AR", "BOLIVIA": "BO", "BRAZIL": "BR", "CHILE": "CL", "COLOMBIA": "CO", "COSTA RICA": "CR",
    "CUBA": "CU", "ECUADOR": "EC", "EL SALVADOR": "SV", "GUATEMALA": "GT", "HONDURAS": "HN", "MEXICO": "MX",
    "NICARAGUA": "NI", "PANAMA": "PA", "PERU": "PE", "UNITED STATES": "US", "VENEZUELA": "VE",
}  # fmt: skip
TOWN_TYPES = {"CITY", "TOWN", "MUNICIPALITY", "HAMLET", "CANTON", "PORT", "COMMUNITY", "CORREGIMIENTO",
              "JURISDICTION", "VILLAGE"}  # fmt: skip
REGION_TYPES = {"DEPARTMENT", "PROVINCE", "STATE", "INTENDANCY", "REGION", "COUNTY"}
SITE_TYPES = {"FARM", "UNIVERSITY", "AIRPORT", "MILITARY BASE"}
SUBTOWN_TYPES = {"NEIGHBORHOOD", "DISTRICT", "SUBURB", "AREA", "RIVER"}

INSTRUMENTS = {
    "GUN": ["firearms"], "MACHINE GUN": ["firearms"], "RIFLE": ["firearms"],
    "BOMB": ["explosive_device"], "DYNAMITE": ["explosive_device"], "EXPLOSIVE": ["explosive_device"],
    "MINE": ["explosive_device"], "VEHICLE BOMB": ["vehicle_bomb"], "AERIAL BOMB": ["aircraft", "explosive_device"],
    "ROCKET": ["rocket"], "MORTAR": ["mortar"], "GRENADE": ["grenade"], "STONE": ["melee", "other"],
}  # fmt: skip
ATTRIBUTIONS = {
    "CLAIMED OR ADMITTED": ["claimed"],
    "SUSPECTED OR ACCUSED": ["alleged", "suspected"],
    "SUSPECTED OR ACCUSED BY AUTHORITIES": ["alleged"],
    "REPORTED AS FACT": ["confirmed"],
    "POSSIBLE": ["suspected"],
}
ANY_ATTRIBUTION = ["suspected", "confirmed", "alleged", "claimed", "unknown"]
HUMAN_KINDS = {
    "CIVILIAN": ["civilian"],
    "GOVERNMENT OFFICIAL": ["government"],
    "FORMER GOVERNMENT OFFICIAL": ["civilian", "government"],
    "POLITICAL FIGURE": ["civilian", "government", "other"],
    "ACTIVE MILITARY": ["military"],
    "LAW ENFORCEMENT": ["police"],
    "SECURITY GUARD": ["civilian", "police", "other"],
    "LEGAL OR JUDICIAL": ["government", "civilian"],
    "DIPLOMAT": ["diplomatic"],
}
PHYSICAL_KINDS = {
    "CIVILIAN RESIDENCE": ["civilian"],
    "COMMERCIAL": ["civilian", "other"],
    "COMMUNICATIONS": ["infrastructure", "media"],
    "DIPLOMAT OFFICE OR RESIDENCE": ["diplomatic"],
    "ENERGY": ["infrastructure"],
    "FINANCIAL": ["civilian", "infrastructure", "other"],
    "GOVERNMENT OFFICE OR RESIDENCE": ["government"],
    "LAW ENFORCEMENT FACILITY": ["police"],
    "ORGANIZATION OFFICE": ["civilian", "other"],
    "OTHER": ["other", "civilian", "infrastructure"],
    "POLITICAL FIGURE OFFICE OR RESIDENCE": ["civilian", "government", "other"],
    "TRANSPORT VEHICLE": ["civilian", "infrastructure", "other"],
    "TRANSPORTATION FACILITY": ["infrastructure"],
    "TRANSPORTATION ROUTE": ["infrastructure"],
    "WATER": ["infrastructure"],
}
ANY_KIND = ["civilian", "military", "government", "police", "infrastructure", "diplomatic", "religious", "media",
            "other", "unknown"]  # fmt: skip
ARMED_HUMAN_TYPES = {"ACTIVE MILITARY", "LAW ENFORCEMENT", "SECURITY GUARD"}  # a target that can fight back
ARMED_PHYSICAL_TYPES = {"LAW ENFORCEMENT FACILITY"}
EXPLOSIVES = {"explosive_device", "vehicle_bomb", "incendiary"}
SHELLING = {"rocket", "mortar", "artillery"}
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, 1)}
MAIN_WINDOW_DAYS = 7  # role: an incident no more than this before the dateline is news (main); else main or background


class KeyError_(ValueError):
    """A fill this script does not know how to read: the build stops rather than guess."""


# ---- reading fills ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """One fill of a slot: `? ` (optional), then quoted strings ("A" / "B") or set values (A / B), then
    optionally `: "ref" / "ref"` naming the string fill it is about."""

    raw: str
    optional: bool = False
    values: tuple[str, ...] = ()
    strings: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.values and not self.strings


def read_strings(text: str, at: int = 0) -> tuple[list[str], int]:
    """Quoted strings separated by ' / ' from text[at]; a backslash escapes a quote inside one."""
    strings: list[str] = []
    while at < len(text) and text[at] == '"':
        at += 1
        chars: list[str] = []
        while at < len(text):
            char = text[at]
            if char == "\\" and at + 1 < len(text):
                chars.append(text[at + 1])
                at += 2
                continue
            at += 1
            if char == '"':
                break
            chars.append(char)
        strings.append(" ".join("".join(chars).split()))
        more = re.match(r'\s*/\s*(?=")', text[at:])  # ' / ' (the key sometimes has two spaces)
        if not more:
            break
        at += more.end()
    return strings, at


def parse_fill(raw: str) -> Fill:
    text = raw.strip()
    optional = text.startswith("?")
    if optional:
        text = text[1:].strip()
    if text in ("-", "*", ""):
        return Fill(raw, optional)
    if text.startswith('"'):
        strings, at = read_strings(text)
        rest = text[at:]
        refs = read_strings(rest, 2)[0] if rest.startswith(': "') else []
        if rest and not rest.startswith(': "'):
            raise KeyError_(f"cannot read the string fill {raw!r}")
        return Fill(raw, optional, strings=tuple(strings), refs=tuple(refs))
    head, sep, rest = text.partition(': "')
    refs = read_strings('"' + rest)[0] if sep else []
    values = tuple(" ".join(value.split()) for value in head.split(" / "))
    return Fill(raw, optional, values=values, refs=tuple(refs))


def fills(template: dict[str, Any], slot: str) -> list[Fill]:
    return [fill for fill in map(parse_fill, template["slots_raw"].get(slot, [])) if not fill.empty]


def not_applicable(template: dict[str, Any], slot: str) -> bool:
    """`*`: MUC-4's "slot does not apply to this incident type" (instruments of a kidnapping or an arson)."""
    return [value.strip() for value in template["slots_raw"].get(slot, [])] == ["*"]


def unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def one_or_list(values: list[Any]) -> Any:
    """A gold scalar: one value, or the list of acceptable ones."""
    return values[0] if len(values) == 1 else values


def split_top(text: str) -> list[str]:
    """'(A) / (B)' -> ['A', 'B']; ' / ' inside parentheses does not split; a lone 'A / B' splits too."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and text.startswith(" / ", at):
            parts.append(text[start:at])
            start = at + 3
    parts.append(text[start:])
    out = []
    for part in (part.strip() for part in parts):
        if part.startswith("(") and part.endswith(")") and _balanced(part[1:-1]):
            part = part[1:-1].strip()
        out.append(part)
    return out


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


# ---- dates (rule: date) -----------------------------------------------------------------------------------------


def key_day(text: str) -> dt.date | None:
    """'04 FEB 90' -> 1990-02-04; year '00' (the key's "year not given") -> None."""
    match = re.fullmatch(r"(\d{1,2}) ([A-Z]{3}) (\d{2})", text.strip())
    if not match or match[2] not in MONTHS:
        raise KeyError_(f"not a key date: {text!r}")
    if match[3] == "00":
        return None
    return dt.date(1900 + int(match[3]), MONTHS[match[2]], int(match[1]))


@dataclass(frozen=True)
class DateReading:
    kind: str  # "day", "range", "before", "none" (the key's "-"), "no year"
    low: dt.date | None = None
    high: dt.date | None = None


def read_date(raw: str) -> list[DateReading]:
    readings = []
    for part in split_top(raw.strip()):
        if part == "-":
            readings.append(DateReading("none"))
        elif part.startswith("- "):
            day = key_day(part[2:])
            readings.append(DateReading("before", None, day) if day else DateReading("no year"))
        elif " - " in part:
            low, high = (key_day(side) for side in part.split(" - "))
            readings.append(DateReading("range", low, high) if low and high else DateReading("no year"))
        else:
            day = key_day(part)
            readings.append(DateReading("day", day, day) if day else DateReading("no year"))
    return readings


def _range_precision(low: dt.date, high: dt.date) -> str | None:
    """Two consecutive days (a night) fix the day; a whole calendar month fixes the month; other spans nothing."""
    if (high - low).days <= 1:
        return "day"
    next_month = (high.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    if low.day == 1 and low.month == high.month and low.year == high.year and high + dt.timedelta(days=1) == next_month:
        return "month"
    return None


def map_date(raw: str) -> dict[str, Any] | None:
    """date.start as ISO day(s) or {"range": [lo, hi]} (null lo: on or before); precision only when every reading
    fixes it; None (date not scored) when the key gives no year."""
    readings = read_date(raw)
    if any(reading.kind == "no year" for reading in readings):
        return None
    starts: list[Any] = []
    precisions: list[str | None] = []
    empty_ok = False
    for reading in readings:
        if reading.kind == "none":
            empty_ok = True
            precisions.append("unknown")
        elif reading.kind == "day":
            assert reading.low is not None
            starts.append(reading.low.isoformat())
            precisions.append("day")
        elif reading.kind == "range":
            assert reading.low is not None and reading.high is not None
            starts.append({"range": [reading.low.isoformat(), reading.high.isoformat()]})
            precisions.append(_range_precision(reading.low, reading.high))
        else:  # before: the text does not fix the day; anything up to the key's day, or nothing
            assert reading.high is not None
            starts.append({"range": [None, reading.high.isoformat()]})
            precisions.append(None)
            empty_ok = True
    starts = unique(starts)
    if empty_ok:
        starts = [None, *starts] if readings[0].kind in ("before", "none") else [*starts, None]
    first = readings[0]
    end: Any = None
    if first.kind == "range":
        assert first.high is not None
        end = [first.high.isoformat(), None]
    date: dict[str, Any] = {"start": one_or_list(starts) if starts else None, "end": end}
    if None not in precisions:
        date["precision"] = one_or_list(unique(precisions))
    return date


def latest_day(raw: str) -> dt.date | None:
    days = [reading.high for reading in read_date(raw) if reading.high is not None]
    return max(days) if days else None


def map_role(raw_date: str, published: dt.date | None) -> Any:
    """MUC-4 does not tell main from background. An incident the key dates (every reading a day or a range) to
    the week before the dateline, or later, is the news: main. An older one, one dated only "on or before", an
    undated one, or one in an undated report may be either: both accepted."""
    readings = read_date(raw_date)
    if published is None or any(reading.kind not in ("day", "range") for reading in readings):
        return ["main", "background"]
    latest = latest_day(raw_date)
    if latest is None:
        return ["main", "background"]
    return "main" if (published - latest).days <= MAIN_WINDOW_DAYS else ["main", "background"]


def dateline(text: str) -> dt.date | None:
    """The report's date from its dateline ('GUATEMALA CITY, 4 FEB 90 (ACAN-EFE) --'); None for 'NO DATE' or a
    day without a year."""
    match = re.match(r"\s*[^,\n]+, (\d{1,2}) ([A-Z]{3}) (\d{2})\b", text)
    if not match or match[2] not in MONTHS:
        return None
    return key_day(f"{int(match[1]):02d} {match[2]} {match[3]}")


# ---- location (rule: location) ----------------------------------------------------------------------------------


@dataclass
class Place:
    names: list[str]  # one name, or the places a ' - ' joins (between them)
    types: list[str]  # the key's types, first the primary one


def read_location(path: str) -> tuple[list[str], list[Place]]:
    country, *rest = [segment.strip() for segment in path.split(": ")]
    codes = []
    for name in country.split(" / "):
        if name.strip() not in COUNTRIES:
            raise KeyError_(f"no ISO code for the country {name!r} in {path!r}; add it to COUNTRIES")
        codes.append(COUNTRIES[name.strip()])
    places = []
    for segment in rest:
        found = re.findall(r"\s*([^()]+?) \(([^()]+)\)(?: -|$)", segment)
        if not found:
            raise KeyError_(f"cannot read the place {segment!r} in {path!r}")
        types = [kind.strip() for kind in found[0][1].split(" / ")]
        for kind in types:
            if kind not in TOWN_TYPES | REGION_TYPES | SITE_TYPES | SUBTOWN_TYPES:
                raise KeyError_(f"unknown place type {kind!r} in {path!r}")
        places.append(Place([name.strip() for name, _ in found], types))
    return codes, places


def map_location(raw: str, physical_names: list[str]) -> dict[str, Any]:
    """country (ISO alpha-2), town, region and site from 'COUNTRY: PLACE (TYPE): PLACE (TYPE)', alternatives '/'.

    - town: the most specific town-level place (city, town, village, municipality, canton, port...), the other
      town-level places of the path accepted too; neighbourhood-level places accepted when no town is named.
    - region: department, province, state... Left out (not scored) when no reading names one: the key names
      the most specific place and only sometimes the levels between, so a missing region is not evidence.
    - site: a farm, university, airport or base in the key is required; neighbourhoods and districts, and the
      physical targets' names (not vehicles), are accepted but not required.
    - a level that no reading names is null (the text gives nothing more specific), except a town under a named
      site or neighbourhood, which the key leaves unsaid (town not scored then).
    """
    codes: list[str] = []
    towns: list[str] = []
    town_extra: list[str] = []
    town_empty_ok = town_unknown = False
    regions: list[str] = []
    region_extra: list[str] = []
    region_empty_ok = False
    sites: list[str] = []
    site_extra: list[str] = []
    site_empty_ok = False
    for reading in split_top(raw.strip()):
        reading_codes, places = read_location(reading)
        codes += reading_codes
        town_names = [(p, n) for p in places if p.types[0] in TOWN_TYPES for n in p.names]
        region_names = [(p, n) for p in places if p.types[0] in REGION_TYPES for n in p.names]
        site_names = [n for p in places if p.types[0] in SITE_TYPES for n in p.names]
        subtown_names = [n for p in places if p.types[0] in SUBTOWN_TYPES for n in p.names]
        if town_names:
            towns.append(town_names[-1][1])  # the most specific
            town_extra += [name for _, name in town_names]
        else:
            below = bool(site_names or subtown_names)
            town_unknown |= below and not any(set(p.types) & TOWN_TYPES for p in places)
            town_empty_ok = True
            town_extra += subtown_names
        town_extra += [n for p in places if p.types[0] not in TOWN_TYPES and set(p.types[1:]) & TOWN_TYPES
                       for n in p.names]  # fmt: skip
        if region_names:
            regions.append(region_names[-1][1])
            region_extra += [name for _, name in region_names]
        else:
            region_empty_ok = True
        region_extra += [n for p in places if p.types[0] not in REGION_TYPES and set(p.types[1:]) & REGION_TYPES
                         for n in p.names]  # fmt: skip
        if site_names:
            sites += site_names
        else:
            site_empty_ok = True
        site_extra += subtown_names
    location: dict[str, Any] = {}
    site_values = unique([*sites, *site_extra, *physical_names])
    if sites:
        location["site"] = one_or_list(site_values + ([None] if site_empty_ok else []))
    else:
        location["site"] = [None, *site_values] if site_values else None
    if not town_unknown:
        town_values = unique([*towns, *town_extra])
        if not town_values:
            location["town"] = None
        elif towns:
            location["town"] = one_or_list(town_values + ([None] if town_empty_ok else []))
        else:
            location["town"] = [None, *town_values]
    region_values = unique([*regions, *region_extra])
    if region_values:
        location["region"] = (
            one_or_list(region_values + ([None] if region_empty_ok else [])) if regions else [None, *region_values]
        )
    location["country"] = one_or_list(unique(codes))
    return location


# ---- perpetrators (rule: perpetrators) --------------------------------------------------------------------------


@dataclass
class Entity:
    aliases: list[str]
    optional: bool
    types: list[str] = field(default_factory=list)
    type_optional: bool = False
    numbers: list[Fill] = field(default_factory=list)
    effects: list[Fill] = field(default_factory=list)
    confidences: list[Fill] = field(default_factory=list)
    group: bool = False  # a description shared by several named targets

    def takes(self, refs: Iterable[str]) -> bool:
        return any(ref in self.aliases for ref in refs)


def entities(template: dict[str, Any], slot: str) -> list[Entity]:
    return [Entity(list(fill.strings), fill.optional) for fill in fills(template, slot) if fill.strings]


def attach(found: list[Entity], fill: Fill, what: str) -> Entity:
    if list(fill.refs) == ["-"]:  # 'NO INJURY OR DEATH: "-"': about the incident's victims, none named
        anonymous = next((entity for entity in found if not entity.aliases), None)
        if anonymous is None:
            anonymous = Entity([], fill.optional)
            found.append(anonymous)
        return anonymous
    for entity in found:
        if entity.takes(fill.refs):
            return entity
    raise KeyError_(f"{what} {fill.raw!r} refers to no entity of the template")


def attribution_of(organization: Entity) -> list[str]:
    """CLAIMED OR ADMITTED -> claimed; SUSPECTED OR ACCUSED -> alleged or suspected; ... BY AUTHORITIES -> alleged;
    REPORTED AS FACT -> confirmed; POSSIBLE -> suspected; '/' -> any of them; no confidence -> any (and not
    required, see map_perpetrators); '?' adds unknown (the key is not sure of its own confidence)."""
    if not organization.confidences:
        return list(ANY_ATTRIBUTION)
    values: list[str] = []
    for fill in organization.confidences:
        for value in fill.values:
            if value not in ATTRIBUTIONS:
                raise KeyError_(f"unknown confidence {value!r} in {fill.raw!r}")
            values += ATTRIBUTIONS[value]
        if fill.optional:
            values.append("unknown")
    return unique(values)


def claim_of(organization: Entity) -> str:
    """'certain' when every confidence reading is CLAIMED OR ADMITTED (and nothing is optional), 'possible' when
    only some are, 'none' otherwise."""
    readings = [(value, fill.optional) for fill in organization.confidences for value in fill.values]
    claimed = [value == "CLAIMED OR ADMITTED" for value, _ in readings]
    if not any(claimed):
        return "none"
    if all(claimed) and not organization.optional and not any(optional for _, optional in readings):
        return "certain"
    return "possible"


def map_perpetrators(template: dict[str, Any]) -> tuple[list[dict[str, Any]], list[list[str]] | None]:
    """perpetrators[] and claimed_by[] (None: claimed_by not scored, the claim being one reading among others).

    One element per organisation (slot 10), attribution from its confidence (slot 11). Individuals (slot 9):
    with exactly one organisation and one individual entity, the individual's strings are aliases of the
    organisation (its members or unit: "GUERRILLA COLUMN" of the URNG); with no organisation each individual is
    an element of its own; otherwise (several of either) individuals are accepted but not required. An
    individual has no confidence slot: its attribution is any value, accepted but not required
    ("optional": ["attribution"]), as is an organisation's that has no confidence fill."""
    organizations = entities(template, PERP_ORGANIZATION)
    for fill in fills(template, PERP_CONFIDENCE):
        attach(organizations, fill, "confidence").confidences.append(fill)
    individuals = entities(template, PERP_INDIVIDUAL)
    elements: list[dict[str, Any]] = []
    merged = len(organizations) == 1 and len(individuals) == 1
    for organization in organizations:
        aliases, optional = list(organization.aliases), organization.optional
        if merged:
            aliases += individuals[0].aliases
            optional = optional and individuals[0].optional
        element: dict[str, Any] = {"name": unique(aliases), "attribution": one_or_list(attribution_of(organization))}
        if optional:
            element["optional"] = True
        elif not organization.confidences:
            element["optional"] = ["attribution"]  # the key gives no confidence: any attribution, none required
        elements.append(element)
    if not merged:
        for individual in individuals:
            element = {"name": unique(individual.aliases), "attribution": list(ANY_ATTRIBUTION)}
            element["optional"] = True if individual.optional or organizations else ["attribution"]
            elements.append(element)
    claims = [(organization, claim_of(organization)) for organization in organizations]
    if any(claim == "possible" for _, claim in claims):
        return elements, None
    return elements, [list(organization.aliases) for organization, claim in claims if claim == "certain"]


# ---- targets and casualties (rules: targets, casualties) --------------------------------------------------------


def human_targets(template: dict[str, Any]) -> list[Entity]:
    """Human target entities: each name (slot 18), and each description (slot 19) that names no one; a description
    of one named target adds aliases to it; a description shared by several named targets is their group, an
    element accepted but not required (a name that two targets share would make them one in the set comparison).
    Type, number and effect fills attach by their reference."""
    found = entities(template, HUM_NAME)
    described: dict[tuple[str, ...], list[Entity]] = {}
    for fill in fills(template, HUM_DESCRIPTION):
        named = next((entity for entity in found if entity.takes(fill.strings)), None)
        if fill.refs or named is not None:  # about a named target (by reference, or repeating its name)
            entity = named if not fill.refs else attach(found, fill, "description")
            described.setdefault(fill.strings, []).append(entity)
        else:
            found.append(Entity(list(fill.strings), fill.optional))
    for strings, described_ones in described.items():
        if len(described_ones) == 1:
            described_ones[0].aliases = unique([*described_ones[0].aliases, *strings])
        else:  # one description of several named targets ("PEASANTS"): the group, accepted but not required
            found.append(Entity(list(strings), True, group=True))
    for slot, what in ((HUM_TYPE, "types"), (HUM_NUMBER, "numbers"), (HUM_EFFECT, "effects")):
        for fill in fills(template, slot):
            entity = attach(found, fill, slot)
            if what == "types":
                entity.types += fill.values
                entity.type_optional |= fill.optional
            else:
                getattr(entity, what).append(fill)
    return found


def physical_targets(template: dict[str, Any]) -> list[Entity]:
    found = entities(template, PHYS_ID)
    for fill in fills(template, PHYS_TYPE):
        entity = attach(found, fill, "physical target type")
        entity.types += fill.values
        entity.type_optional |= fill.optional
    return found


def kinds_of(entity: Entity, table: dict[str, list[str]]) -> list[str]:
    """TargetKind alternatives from the key's target types; no type: any kind; '?': unknown accepted too."""
    if not entity.types:
        return list(ANY_KIND)
    kinds: list[str] = []
    for value in entity.types:
        if value not in table:
            raise KeyError_(f"no target kind for the type {value!r}; add it to the table")
        kinds += table[value]
    return unique(kinds + (["unknown"] if entity.type_optional else []))


def map_targets(humans: list[Entity], physical: list[Entity]) -> list[dict[str, Any]]:
    elements = []
    for entity, table in [*((h, HUMAN_KINDS) for h in humans), *((p, PHYSICAL_KINDS) for p in physical)]:
        if not entity.aliases:
            continue  # an effect about no named target: it counts in the casualties only
        element: dict[str, Any] = {"name": unique(entity.aliases), "kind": one_or_list(kinds_of(entity, table))}
        if entity.optional:
            element["optional"] = True
        elements.append(element)
    return elements


INFINITY = None  # an open upper bound


@dataclass(frozen=True)
class Interval:
    low: int
    high: int | None  # None: no upper bound

    def __add__(self, other: Interval) -> Interval:
        high = None if self.high is None or other.high is None else self.high + other.high
        return Interval(self.low + other.low, high)


def about(number: int) -> Interval:
    """'~70': about 70, read as 10% either way (at least 1): 63-77."""
    spread = max(1, round(number / 10))
    return Interval(max(0, number - spread), number + spread)


def read_number(value: str) -> Interval:
    """One reading of a number fill: 'N', '~N' (about), 'PLURAL' (2 or more), '- N' (at most N), 'N -' (at least)."""
    value = value.strip()
    if value == "PLURAL":
        return Interval(2, INFINITY)
    if re.fullmatch(r"\d+", value):
        return Interval(int(value), int(value))
    if re.fullmatch(r"~\d+", value):
        return about(int(value[1:]))
    if re.fullmatch(r"- \d+", value):
        return Interval(1, int(value[2:]))
    if re.fullmatch(r"\d+ -", value):
        return Interval(int(value[:-2]), INFINITY)
    raise KeyError_(f"cannot read the number {value!r}")


def number_of(fill_values: Iterable[str]) -> Interval:
    """All readings of a number fill ('5/6', '1 / PLURAL'): their hull."""
    readings = [read_number(part) for value in fill_values for part in value.split("/") if part.strip()]
    low = min(reading.low for reading in readings)
    high = None if any(reading.high is None for reading in readings) else max(reading.high for reading in readings)
    return Interval(low, high)  # type: ignore[arg-type]


@dataclass
class Tally:
    """What the key says about one casualty count: the people it says suffered it, and whether that is certain."""

    interval: Interval = Interval(0, 0)
    uncertain: bool = False  # an optional ('?') or alternative ('DEATH / INJURY') reading is part of it
    stated_none: bool = False  # a target's effect says none (NO INJURY OR DEATH, NO DEATH, NO INJURY)
    implied_none: bool = False  # a target's other effect rules it out for that target (INJURY: not killed)

    @property
    def any(self) -> bool:
        return self.interval.high is None or self.interval.high > 0


STATES_NONE = {  # effect -> the counts it says are zero for that target
    "NO INJURY": {"killed", "injured"},
    "NO DEATH": {"killed"},
    "NO INJURY OR DEATH": {"killed", "injured"},
}
IMPLIES_NONE = {"DEATH": {"injured"}, "INJURY": {"killed"}}  # the other count, for that target
COUNTS = {"DEATH": "killed", "INJURY": "injured"}


def tally(humans: list[Entity], total: list[Fill]) -> dict[str, Tally]:
    """Per count (killed, injured): the sum of the numbers (slot 21) of the targets whose effect (slot 23) is that
    count; a target whose effect is one reading of several, or optional, adds 0 to the low end. The total
    (slot 24) replaces the sum when every target with an effect has the same single effect (the key's targets
    may overlap: the rector among the six Jesuits); an optional total ('? 6') is ignored."""
    tallies = {"killed": Tally(), "injured": Tally()}
    effects_seen: set[str] = set()
    for entity in humans:
        number = number_of([v for fill in entity.numbers for v in fill.values]) if entity.numbers else Interval(1, None)
        optional_number = any(fill.optional for fill in entity.numbers)
        for fill in entity.effects:
            effects_seen.add(" / ".join(fill.values))
            for count in ("killed", "injured"):
                readings = [COUNTS.get(value) == count for value in fill.values]
                current = tallies[count]
                if any(readings):
                    certain = all(readings) and not fill.optional and not (entity.optional and not entity.group)
                    low = number.low if certain else 0
                    current.interval = current.interval + Interval(low, number.high)
                    current.uncertain |= not certain or optional_number
                elif fill.optional:
                    continue
                elif all(count in STATES_NONE.get(value, set()) for value in fill.values):
                    current.stated_none = True
                elif all(count in (STATES_NONE | IMPLIES_NONE).get(value, set()) for value in fill.values):
                    current.implied_none = True
    if total and len(effects_seen) == 1 and not any(fill.optional for fill in total):
        (effect,) = effects_seen
        if effect in COUNTS:
            tallies[COUNTS[effect]].interval = number_of([v for fill in total for v in fill.values])
    return tallies


def map_count(count: Tally) -> dict[str, Any]:
    """casualties.<count>.{min,max}: an exact number N -> min N, max N or null; a range -> min and max within it
    (an open range: at least its low end; max also null); optional readings make null acceptable for min too.
    None in the key: 0, null accepted, when a target's effect says none (NO INJURY OR DEATH...); null, 0
    accepted, when another effect rules it out for the targets (INJURY: not killed); null when the key says
    nothing (unknown)."""
    interval = count.interval
    if not count.any:
        zero = [0, None] if count.stated_none else [None, 0] if count.implied_none else None
        return {"min": zero, "max": zero}
    if interval.low == interval.high:
        low: Any = interval.low
        return {"min": [low, None] if count.uncertain else low, "max": [low, None]}
    span = {"range": [interval.low, interval.high]}
    if interval.high is None:
        return {"min": [span, None] if count.uncertain else span, "max": [None, span]}
    return {"min": [span, None] if count.uncertain else span, "max": [span, None]}


# ---- weapons and type (rules: instrument, incident type) --------------------------------------------------------


def map_weapons(template: dict[str, Any]) -> list[dict[str, Any]] | None:
    """weapons[].type from the instrument types (slot 7); the instrument words (slot 6, the fill's reference)
    decide field guns (artillery), incendiary bombs (incendiary first) and grenade rocket launchers (rocket too).
    '-' -> [] (no instrument in the text); '*' (not applicable: kidnapping, arson) -> not scored. MUC-4 has no
    instrument count, so weapons[].count is not given."""
    if not_applicable(template, INSTRUMENT_TYPE):
        return None
    elements = []
    for fill in fills(template, INSTRUMENT_TYPE):
        words = " ".join(fill.refs)
        types: list[str] = []
        for value in fill.values:
            if value not in INSTRUMENTS:
                raise KeyError_(f"no weapon type for the instrument {value!r}")
            mapped = list(INSTRUMENTS[value])
            if value == "GUN" and "FIELD GUN" in words:
                mapped = ["artillery"]
            if value == "BOMB" and "INCENDIARY" in words:
                mapped = ["incendiary", "explosive_device"]
            if value == "GRENADE" and "ROCKET" in words:
                mapped = ["grenade", "rocket"]
            types += mapped
        element: dict[str, Any] = {"type": one_or_list(unique(types))}
        if fill.optional:
            element["optional"] = True
        elements.append(element)
    return elements


def weapon_types(weapons: list[dict[str, Any]] | None) -> list[str]:
    return unique(t for element in weapons or [] for t in (element["type"] if isinstance(element["type"], list)
                                                             else [element["type"]]))  # fmt: skip


def map_sub_event_type(
    incident_types: list[str], weapons: list[dict[str, Any]] | None, humans: list[Entity], physical: list[Entity],
    harmed: bool,
) -> Any:  # fmt: skip
    """bombing -> remote_explosive_landmine_ied (grenade, shelling or air strike by its instrument); attack ->
    attack, and armed_clash when a target is armed (military, police, guards, a police post), first when every
    human target is; the instrument adds its own sub-event type to an attack; kidnapping ->
    abduction_forced_disappearance; arson, robbery -> other, attack accepted (attack first when people were
    killed or hurt); forced work stoppage -> other."""
    kinds = weapon_types(weapons)

    def by_instrument() -> list[str]:
        found = []
        for kind in kinds:
            if kind in EXPLOSIVES:
                found.append("remote_explosive_landmine_ied")
            elif kind in SHELLING:
                found.append("shelling_artillery_missile_attack")
            elif kind == "grenade":
                found.append("grenade")
            elif kind == "aircraft":
                found.append("air_drone_strike")
        return unique(found)

    out: list[str] = []
    for incident_type in incident_types:
        if incident_type == "BOMBING":
            out += by_instrument() or ["remote_explosive_landmine_ied"]
        elif incident_type == "ATTACK":
            human_types = [t for h in humans for t in h.types]
            armed = any(t in ARMED_HUMAN_TYPES for t in human_types) or any(
                t in ARMED_PHYSICAL_TYPES for p in physical for t in p.types
            )
            all_armed = bool(human_types) and all(t in ARMED_HUMAN_TYPES for t in human_types)
            base = ["armed_clash", "attack"] if all_armed else ["attack", *(["armed_clash"] if armed else [])]
            out += base + by_instrument()
        elif incident_type == "KIDNAPPING":
            out.append("abduction_forced_disappearance")
        elif incident_type in ("ARSON", "ROBBERY"):
            out += ["attack", "other"] if harmed else ["other", "attack"]
        elif incident_type == "FORCED WORK STOPPAGE":
            out.append("other")
        else:
            raise KeyError_(f"unknown incident type {incident_type!r}")
    return one_or_list(unique(out))


# ---- one template, one document ----------------------------------------------------------------------------------


def map_template(doc_id: str, template: dict[str, Any], published: dt.date | None) -> tuple[dict | None, str]:
    """The gold incident of one template, or None and why it is left out."""
    stages = [v for fill in fills(template, STAGE) for v in fill.values]
    if stages and all(stage == "THREATENED" for stage in stages):
        return None, "threatened (stage of execution THREATENED): a threat is not an incident"
    incident_types = [v for fill in fills(template, TYPE) for v in fill.values]
    humans, physical = human_targets(template), physical_targets(template)
    weapons = map_weapons(template)
    tallies = tally(humans, fills(template, HUM_TOTAL))
    harmed = tallies["killed"].any or tallies["injured"].any
    perpetrators, claimed_by = map_perpetrators(template)
    physical_names = [a for p in physical if "TRANSPORT VEHICLE" not in p.types for a in p.aliases]
    raw_date = template["slots_raw"][DATE][0]
    incident: dict[str, Any] = {
        "id": f"{doc_id}-{template['template_no']}",
        "optional": bool(template["optional"]),
        "role": map_role(raw_date, published),
        "sub_event_type": map_sub_event_type(incident_types, weapons, humans, physical, harmed),
    }
    if weapons is not None:
        incident["weapons"] = weapons
    date = map_date(raw_date)
    if date is not None:
        incident["date"] = date
    incident["location"] = map_location(template["slots_raw"][LOCATION][0], physical_names)
    incident["perpetrators"] = perpetrators
    if claimed_by is not None:
        incident["claimed_by"] = claimed_by
    incident["targets"] = map_targets(humans, physical)
    incident["casualties"] = {count: map_count(tallies[count]) for count in ("killed", "injured")}
    incident["muc4"] = {
        "template": template["template_no"],
        "type": " / ".join(incident_types),
        "stage": " / ".join(stages),
    }
    return incident, ""


def build(source: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    docs, gold = [], []
    for line in source.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        doc_id, text = record["doc_id"], record["text"]
        published = dateline(text)
        doc: dict[str, Any] = {"id": doc_id, "text": text}
        if published is not None:
            doc["published"] = published.isoformat()
        docs.append(doc)
        incidents, dropped = [], []
        for template in record["templates"]:
            try:
                incident, why = map_template(doc_id, template, published)
            except KeyError_ as exc:
                raise KeyError_(f"{doc_id} template {template['template_no']}: {exc}") from exc
            if incident is None:
                dropped.append({"template": template["template_no"], "reason": why})
            else:
                incidents.append(incident)
        line_out: dict[str, Any] = {"doc_id": doc_id, "incidents": incidents}
        if dropped:
            line_out["dropped"] = dropped
        gold.append(line_out)
    return docs, gold


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="MUC-4 dev_full.jsonl")
    parser.add_argument("--out", type=Path, default=HERE, help="where docs.jsonl and gold.jsonl go")
    args = parser.parse_args(argv)
    digest = hashlib.sha256(args.source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        print(f"note: {args.source} is not the file this suite was built from (sha256 {digest})", file=sys.stderr)
    docs, gold = build(args.source)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "docs.jsonl").write_bytes(jsonl(docs))
    (args.out / "gold.jsonl").write_bytes(jsonl(gold))
    incidents = [incident for line in gold for incident in line["incidents"]]
    print(
        f"{len(docs)} documents, {len(incidents)} gold incidents "
        f"({sum(i['optional'] for i in incidents)} optional), "
        f"{sum(len(line.get('dropped', [])) for line in gold)} templates dropped -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
