"""Incident record, version 1: one news article -> a bounded list of violent incidents.

Modelled on how conflict-event datasets code events:
- the event taxonomy follows ACLED's political-violence event types and sub-event types;
- attribution follows GTD's distinction between claimed, suspected and confirmed perpetrators;
- casualty figures are ranges (UCDP GED's low/best/high practice) kept beside the article's words.

Design rules learned on small models (see README): every field is required but nullable, so the
JSON-schema grammar cannot let the model skip one; every list and string is bounded, so a small
model cannot loop until max_tokens; every category is a closed enum.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

import pycountry
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

SCHEMA_NAME = "incident_v1"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Quote = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]


class Record(BaseModel):
    """Base for every part of the record: unknown keys are errors, so typos are re-asked."""

    model_config = ConfigDict(extra="forbid")


class Role(StrEnum):
    main = "main"  # what the article is about
    background = "background"  # an earlier or other attack the article mentions with enough detail


class EventType(StrEnum):
    battles = "battles"
    explosions_remote_violence = "explosions_remote_violence"
    violence_against_civilians = "violence_against_civilians"
    other = "other"


class SubEventType(StrEnum):
    armed_clash = "armed_clash"
    government_regains_territory = "government_regains_territory"
    non_state_actor_overtakes_territory = "non_state_actor_overtakes_territory"
    air_drone_strike = "air_drone_strike"
    shelling_artillery_missile_attack = "shelling_artillery_missile_attack"
    remote_explosive_landmine_ied = "remote_explosive_landmine_ied"
    suicide_bomb = "suicide_bomb"
    grenade = "grenade"
    chemical_weapon = "chemical_weapon"
    attack = "attack"
    abduction_forced_disappearance = "abduction_forced_disappearance"
    sexual_violence = "sexual_violence"
    other = "other"


EVENT_TYPE_OF: dict[SubEventType, EventType] = {
    SubEventType.armed_clash: EventType.battles,
    SubEventType.government_regains_territory: EventType.battles,
    SubEventType.non_state_actor_overtakes_territory: EventType.battles,
    SubEventType.air_drone_strike: EventType.explosions_remote_violence,
    SubEventType.shelling_artillery_missile_attack: EventType.explosions_remote_violence,
    SubEventType.remote_explosive_landmine_ied: EventType.explosions_remote_violence,
    SubEventType.suicide_bomb: EventType.explosions_remote_violence,
    SubEventType.grenade: EventType.explosions_remote_violence,
    SubEventType.chemical_weapon: EventType.explosions_remote_violence,
    SubEventType.attack: EventType.violence_against_civilians,
    SubEventType.abduction_forced_disappearance: EventType.violence_against_civilians,
    SubEventType.sexual_violence: EventType.violence_against_civilians,
    SubEventType.other: EventType.other,
}


class WeaponType(StrEnum):
    drone = "drone"
    missile = "missile"
    rocket = "rocket"
    mortar = "mortar"
    artillery = "artillery"
    aircraft = "aircraft"
    explosive_device = "explosive_device"
    vehicle_bomb = "vehicle_bomb"
    suicide_vest = "suicide_vest"
    grenade = "grenade"
    firearms = "firearms"
    melee = "melee"
    incendiary = "incendiary"
    chemical = "chemical"
    other = "other"
    unknown = "unknown"


class DatePrecision(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    year = "year"
    unknown = "unknown"


class LocationPrecision(StrEnum):
    site = "site"  # a named facility, base, building or street
    town = "town"  # a city, town or village
    region = "region"  # a province, state, department or a part of a country ("the north of the country")
    country = "country"
    unknown = "unknown"


class Attribution(StrEnum):
    confirmed = "confirmed"  # officials or investigators established it
    claimed = "claimed"  # the actor itself claimed responsibility
    alleged = "alleged"  # a third party accuses the actor
    suspected = "suspected"  # the article suspects or implies it without a named accuser
    unknown = "unknown"


class TargetKind(StrEnum):
    military = "military"
    civilian = "civilian"
    government = "government"
    police = "police"
    infrastructure = "infrastructure"
    diplomatic = "diplomatic"
    religious = "religious"
    media = "media"
    other = "other"
    unknown = "unknown"


class Weapon(Record):
    type: WeaponType = Field(description="Kind of weapon used.")
    count: int | None = Field(ge=0, le=100000, description="How many were used, if the article says; else null.")
    text: Words | None = Field(description="The article's words for the weapon, e.g. 'a homemade mortar'.")


class EventDate(Record):
    start: dt.date | None = Field(
        description="ISO date (YYYY-MM-DD) the incident happened or began; null if the article gives no way to tell."
    )
    end: dt.date | None = Field(
        description="ISO date it ended, for incidents spanning several days; null for a single day."
    )
    precision: DatePrecision = Field(description="How precisely the article fixes the date.")
    text: Words | None = Field(description="The article's own words for the date, e.g. 'last Tuesday'.")

    @model_validator(mode="after")
    def _consistent(self) -> EventDate:
        if self.start is None and self.end is not None:
            raise ValueError("date.end is set but date.start is null: give start, or set both to null")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"date.end {self.end} is before date.start {self.start}")
        if self.start is None and self.precision is not DatePrecision.unknown:
            raise ValueError("date.start is null, so date.precision must be 'unknown'")
        return self


class Location(Record):
    site: Name | None = Field(description="Named site: base, facility, building, street, e.g. 'the central market'.")
    town: Name | None = Field(description="City, town or village.")
    region: Name | None = Field(
        description="Province, state, department or part of the country, as the article names it."
    )
    country: str | None = Field(
        pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code of the country, e.g. 'FR' for France."
    )
    precision: LocationPrecision = Field(description="The most precise level the article gives.")

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        if value is not None and pycountry.countries.get(alpha_2=value) is None:
            raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code (France is 'FR')")
        return value


class Actor(Record):
    name: Name = Field(description="Group, force or person, as the article names them.")
    attribution: Attribution = Field(description="How the article links this actor to the incident.")


class Target(Record):
    name: Name = Field(description="Who or what was attacked, e.g. 'a police patrol', 'villagers'.")
    kind: TargetKind


class Outcome(Record):
    intercepted: bool | None = Field(description="true if the weapons were intercepted or shot down; null if not said.")
    damage: Words | None = Field(description="The article's words about material damage; null if not said.")


class Count(Record):
    """A casualty figure as a range, beside the article's words (UCDP low/high practice)."""

    min: int | None = Field(ge=0, le=10_000_000, description="Lowest number the article supports; 0 if it says none.")
    max: int | None = Field(
        ge=0, le=10_000_000, description="Highest number it supports; null if open-ended or unknown."
    )
    text: Words | None = Field(description="The article's words, e.g. 'at least 1,400', 'minor injuries'.")

    @model_validator(mode="after")
    def _ordered(self) -> Count:
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError(f"casualty max {self.max} is below min {self.min}")
        return self


class Casualties(Record):
    killed: Count
    injured: Count


class Incident(Record):
    role: Role = Field(
        description="'main' if the article reports it as news; 'background' for an earlier or other attack."
    )
    sub_event_type: SubEventType = Field(description="ACLED-style sub-event type.")
    weapons: list[Weapon] = Field(max_length=4)
    date: EventDate
    location: Location
    perpetrators: list[Actor] = Field(
        max_length=4, description="Who carried it out, with how the article attributes it."
    )
    claimed_by: list[Name] = Field(max_length=3, description="Groups that claimed responsibility, as named.")
    targets: list[Target] = Field(max_length=4)
    outcome: Outcome
    casualties: Casualties
    evidence: list[Quote] = Field(
        min_length=1, max_length=3, description="Short verbatim quotes from the article that state the key facts."
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_stored_event_type(cls, data: Any) -> Any:
        """Stored records carry the derived event_type; read them back only if it agrees."""
        if isinstance(data, dict) and "event_type" in data:
            data = dict(data)
            stated = data.pop("event_type")
            sub = data.get("sub_event_type")
            if sub in SubEventType.__members__ and stated != EVENT_TYPE_OF[SubEventType(sub)]:
                raise ValueError(f"event_type {stated!r} does not belong to sub_event_type {sub!r}")
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def event_type(self) -> EventType:
        """Derived from the sub-event type, so the two can never disagree."""
        return EVENT_TYPE_OF[self.sub_event_type]


class IncidentExtraction(Record):
    """What the model returns for one article.

    `attacks` is a plan: the model first names each incident in one line, then fills one record per
    line; without it a 1.5B model stops after the first incident (measured: README, "Prompt history").
    Only `incidents` is stored (RECORDS_FIELD).
    """

    attacks: list[Words] = Field(
        max_length=6, description="First, one short line per violent incident in the article (a plan); empty if none."
    )
    incidents: list[Incident] = Field(
        max_length=6, description="Violent incidents reported in the article; empty if none."
    )


class CitedIncident(Incident):
    """An incident as the model answers it when the article's sentences are numbered ([1], [2], ...): evidence by
    sentence number, which the tool turns into the sentences' own words (llm_extract.sentences). A number costs
    one or two generated tokens where a copied sentence costs thirty."""

    evidence: list[Annotated[int, Field(ge=1, le=999)]] = Field(  # type: ignore[assignment]
        min_length=1, max_length=3, description="Numbers of 1 to 3 sentences of the article that state the key facts."
    )

    @field_validator("evidence")
    @classmethod
    def _sentences_exist(cls, value: list[int], info: ValidationInfo) -> list[int]:
        count = info.context.get("sentence_count") if isinstance(info.context, dict) else None
        wrong = [number for number in value if count is not None and number > count]
        if wrong:
            raise ValueError(f"the article has sentences [1] to [{count}]; there is no {wrong}")
        return value


class CitedExtraction(Record):
    """IncidentExtraction with evidence cited by sentence number (the prompt's `article = "numbered"`)."""

    attacks: list[Words] = IncidentExtraction.model_fields["attacks"]  # type: ignore[assignment]
    incidents: list[CitedIncident] = Field(
        max_length=6, description="Violent incidents reported in the article; empty if none."
    )


RESPONSE_MODEL = IncidentExtraction
RECORDS_FIELD = "incidents"
ANSWER_MODEL = CitedExtraction
SENTENCE_FIELDS = ("evidence[]",)  # answered by sentence number in ANSWER_MODEL, stored as the sentences' words

# Values the model copies from the article: each is located in the text (llm_extract.grounding).
GROUNDED_FIELDS = (
    "evidence[]",
    "date.text",
    "location.site",
    "location.town",
    "location.region",
    "perpetrators[].name",
    "claimed_by[]",
    "targets[].name",
    "weapons[].text",
    "outcome.damage",
    "casualties.killed.text",
    "casualties.injured.text",
)
# The ones a record is not worth keeping without: `--require-grounding` re-asks when one is not in the text.
KEY_FIELDS = ("evidence[]", "location.site", "perpetrators[].name", "claimed_by[]")
# Verified against the article (llm_extract.resolve): a place or actor name the article does not write is cut to
# the words it does write ("al-Asad Airbase, Iraq" -> "al-Asad Airbase") or removed ("unknown", an invented
# town): a place nulled, a perpetrator or claimant dropped. Targets are not: they are descriptions ("U.S.
# forces") the scorer credits as paraphrase, and verifying them lowered seed field F1 (docs/results.md).
VERIFIED_FIELDS = ("location.site", "location.town", "location.region", "perpetrators[].name", "claimed_by[]")
# Resolved against the article (llm_extract.resolve): a country the article does not support is replaced or nulled;
# the date is the one its own words give against the publication date or dateline, a year the article cannot
# support nulled. Checked against its words (llm_extract.checks; the site first, as a town filed as a site places
# the record): a site that is a town or a country moves to the town or goes, a claimant no sentence says claimed
# the attack is dropped, a type its evidence has no word for is retyped, a target named "unknown" is dropped and
# one of kind "unknown" gets the kind its words give ("peasants": civilian). "" is the record itself.
RESOLVED_FIELDS = {"location": ("site", "country"), "date": "date", "": ("claims", "type", "targets", "target_kinds")}
# Normalised beside the article's words (llm_extract.normalize): path -> normaliser.
NORMALIZED_FIELDS = {
    "date": "date",
    "location": "country",
    "casualties.killed": "casualties",
    "casualties.injured": "casualties",
}


def _folded(value: Any) -> Any:
    return " ".join(value.casefold().split()) if isinstance(value, str) else value


def same_record(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two incidents of one answer are one incident told twice when what places it agrees: type, date, place,
    perpetrators and casualty figures (words folded). Evidence and the article's own wording may differ; two
    attacks on one day at two unnamed places differ in nothing here either, which is why perpetrators and figures
    must agree too."""

    def key(record: dict[str, Any]) -> tuple[Any, ...]:
        date, place, casualties = record.get("date") or {}, record.get("location") or {}, record.get("casualties") or {}
        return (
            record.get("sub_event_type"),
            date.get("start"),
            date.get("end"),
            *(_folded(place.get(part)) for part in ("site", "town", "region", "country")),
            frozenset(_folded(actor.get("name")) for actor in record.get("perpetrators") or []),
            *((casualties.get(kind) or {}).get(end) for kind in ("killed", "injured") for end in ("min", "max")),
        )

    return key(a) == key(b)


SAME_RECORD = same_record
