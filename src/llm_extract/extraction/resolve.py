"""Resolution: a value the article does not support is replaced from what the article does say, or nulled.

A small model fills a closed field from its priors when the text is silent or unfamiliar to it: on 1989 Latin
American news the embedded model placed 18 of 38 incidents in Iraq or Syria, the countries of its prompt's
examples, and dated "THURSDAY" in a 1989 article 1830-05-25. The schema names the fields to resolve
(RESOLVED_FIELDS: path of the node, "" for the record -> resolver or resolvers: "country", "date", and the checks
of `checks`: "claims", "type", "site", "targets", "target_kinds") and the names to verify (VERIFIED_FIELDS: cut
to the words the article writes, or removed); each resolver checks the value against the document and changes it
only when the document does not support it. Every change is kept on the line ("resolved": path, the model's
value, the value stored, why), so nothing is silently rewritten and review can restore it. What each rule did on
muc4-incidents and the seeds: docs/results.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llm_extract.core.paths import iter_path, parse_path, walk
from llm_extract.core.text import fold_name
from llm_extract.extraction.checks import CHECKS
from llm_extract.extraction.grounding import fold, normalise
from llm_extract.extraction.grounding import locate as ground
from llm_extract.extraction.normalize.countries import (
    PLACE_KEYS,
    countries_mentioned,
    countries_named,
    without_country_names,
)
from llm_extract.extraction.normalize.dates import Anchor, find_dateline
from llm_extract.extraction.normalize.dates import resolve_date as normalise_date
from llm_extract.extraction.normalize.gazetteer import gazetteer
from llm_extract.extraction.normalize.geo import PLACE_ORDER, choose_place, locate
from llm_extract.extraction.schema_loader import SchemaSpec


@dataclass(frozen=True)
class Resolution:
    path: str
    given: Any
    stored: Any
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "given": self.given, "stored": self.stored, "why": self.why}


_DATELINE_PLACE_CHARS = 60  # "PANAMA CITY (PANAMA), " or "KYIV, Ukraine, ": a place, not a sentence


@dataclass(frozen=True)
class ArticleCountries:
    """What the article itself says of countries: those it names or whose people it names ("Salvadoran
    troops"), in order of first mention, and the country of its dateline's place ("BOGOTA, 4 FEB 90")."""

    mentioned: tuple[str, ...]
    dateline: str | None

    @property
    def supported(self) -> tuple[str, ...]:
        return self.mentioned + ((self.dateline,) if self.dateline and self.dateline not in self.mentioned else ())

    @property
    def fallback(self) -> tuple[str | None, str]:
        """The country of a record that names none the article supports: the dateline's, else the only one the
        article mentions, else none."""
        if self.dateline:
            return self.dateline, "the dateline's place is in this country"
        if len(self.mentioned) == 1:
            return self.mentioned[0], "the only country the article mentions"
        if self.mentioned:
            return None, f"the article mentions {', '.join(self.mentioned)} but not this country"
        return None, "the article gives no word of any country"


def _dateline_country(text: str, mentioned: tuple[str, ...]) -> str | None:
    """The country the words before the dateline's date name ("MANAGUA (NICARAGUA)"), or that their place is
    in: the gazetteer's only or dominant place of that name, or the only one in a country the article mentions."""
    anchor = find_dateline(text)
    if anchor is None or anchor.source != "dateline" or anchor.start is None:
        return None
    words = text[text.rfind("\n", 0, anchor.start) + 1 : anchor.start].strip(" \t,-(")
    if not words or len(words) > _DATELINE_PLACE_CHARS:
        return None
    if named := countries_named(words):
        return named[0]
    head = re.split(r"[,(]", words)[0].strip()
    place, _ = choose_place(head, None)
    if place is not None:
        return place.country
    inside = {place.country for place in gazetteer().named(head) if place.country in mentioned}
    return inside.pop() if len(inside) == 1 else None


@lru_cache(maxsize=8)  # one article's records are resolved one after another
def article_countries(text: str) -> ArticleCountries:
    mentioned = tuple(countries_mentioned(text))
    return ArticleCountries(mentioned, _dateline_country(text, mentioned))


def _located(location: dict[str, Any], text: str, article: ArticleCountries) -> tuple[str | None, str]:
    """The country the gazetteer finds the record's place in: the only country the article supports that has
    a place of that name, or the dominant one of several (Bogotá, CO, over Bogota, US); where none has, the
    gazetteer's only or dominant place of a name the article itself writes as a name of its own ("BOGOTA" in a
    report from Managua; not "Salvador" of "El Salvador")."""
    # A country's name is not a town: "western Iraq" is no place in Iran called Iraq (GeoNames has one).
    words = {key: word for key in PLACE_ORDER if (word := without_country_names(str(location.get(key) or "")).strip())}
    located = [code for code in article.supported if locate(words, code)["geo_status"] == "resolved"]
    if len(located) == 1:
        return located[0], "the record's place is in this country, which the article mentions"
    if not located:
        words = {key: word for key, word in words.items() if _writes(text, word)}
    found = locate(words, None) if words else None
    if found is None or found["geo_status"] != "resolved" or not found["admin1_code"]:
        return None, ""
    code = found["admin1_code"].split(".")[0]
    if located and code not in located:
        return None, ""
    return code, f"the article's place {found['place']} is in this country"


@lru_cache(maxsize=8)
def _folded_words(text: str) -> str:
    return f" {fold_name(without_country_names(text))} "


def _writes(text: str, name: str) -> bool:
    """Whether the article writes `name` as whole words, outside its country names."""
    return f" {fold_name(name)} " in _folded_words(text)


def placed_outside(location: dict[str, Any], text: str) -> bool:
    """A record placed in a country its article gives no word of: not one it names, whose people it names or
    where its dateline's place is, nor the country of the record's place where the article writes that place."""
    code = location.get("country")
    article = article_countries(text)
    return code is not None and code not in article.supported and _located(location, text, article)[0] != code


def resolve_country(location: dict[str, Any], text: str) -> tuple[str, Any, str] | None:
    """The country the record's most specific evidence gives: the gazetteer's country for its town, site or
    region (`_located`), else a country its place names name ("western Iraq") that the article supports; else
    the model's code when the article supports it (names the country or its people, or its dateline's place is
    there); else the dateline's country, or the only one the article mentions, or null. A record is never placed
    in a country the article gives no word of. Returns (key, new value, why) when it changes."""
    given = location.get("country")
    article = article_countries(text)
    places = " ; ".join(str(location[key]) for key in PLACE_KEYS if location.get(key))
    stored, why = _located(location, text, article) if places else (None, "")
    if stored is None:
        in_places = [code for code in countries_named(places) if code in article.supported] if places else []
        if len(in_places) == 1:
            stored, why = in_places[0], "the record's place names name this country"
        elif given is not None and given in article.supported:
            return None
        else:
            stored, why = article.fallback
    return None if stored == given else ("country", stored, why)


EARLIEST_YEAR = 1900  # a start before it ("0640-01-01" for "BROAD DAYLIGHT"), or after today, is no news date


def resolve_date(date: dict[str, Any], text: str, anchor: Anchor | None = None) -> list[tuple[str, Any, str]]:
    """The date the record's own date words give against the anchor (the publication date, else the dateline:
    `normalize.dates`), where they resolve and the model's differs ("THURSDAY" in an article of 26 May 1989 is 25
    May 1989, not 1830-05-25) and do not fall after the anchor. Otherwise a start no news gives (before
    EARLIEST_YEAR or after today) is nulled, and, where there is an anchor, a start after it or in a year neither
    written in the article nor the anchor's or the one before. Returns the (key, new value, why) changes."""
    start = date.get("start")
    resolved = normalise_date(date.get("text"), anchor)
    words_day = _as_day(resolved["start"])  # "at 2030" (a time) reads as the year 2030: not after the anchor
    if words_day is not None and (anchor is None or words_day <= anchor.date):
        end = None if resolved["end"] == resolved["start"] else resolved["end"]
        why = f"the date words {date.get('text')!r} give this ({resolved['reason']})"
        wanted = {"start": resolved["start"], "end": end, "precision": resolved["precision"]}
        return [(key, value, why) for key, value in wanted.items() if str(date.get(key) or "") != str(value or "")]
    day = _as_day(start)
    if day is None:
        return []
    if not EARLIEST_YEAR <= day.year <= dt.date.today().year:
        why = f"no news reports an incident in the year {day.year}"
    elif anchor is None:  # without the article's own date a year cannot be judged
        return []
    elif day > anchor.date:
        why = f"after the article's {anchor.source} date {anchor.date}"
    elif day.year in (anchor.date.year, anchor.date.year - 1) or re.search(rf"(?<!\d){day.year}(?!\d)", text):
        return []
    else:
        why = f"the article gives no year {day.year}, nor does its {anchor.source} date {anchor.date}"
    return [("start", None, why)] + ([("end", None, why)] if date.get("end") is not None else [])


def _as_day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


Resolver = Callable[[dict[str, Any], str, Anchor | None], list[tuple[str, Any, str]]]


def _without_anchor(check: Callable[[dict[str, Any], str], list[tuple[str, Any, str]]]) -> Resolver:
    return lambda node, text, _anchor: check(node, text)


RESOLVERS: dict[str, Resolver] = {
    "country": lambda node, text, _anchor: [change] if (change := resolve_country(node, text)) else [],
    "date": resolve_date,
    # llm_extract.checks: values the article's words do not bear out; none needs the anchor
    **{kind: _without_anchor(check) for kind, check in CHECKS.items()},
}


_QUALIFIED = re.compile(r",|\s+in\s+", re.IGNORECASE)  # "al-Asad Airbase, Iraq", "a market in Baghdad"


def _plural_written(name: str, text: str) -> bool:
    """Whether the article writes `name` with a plural ending ("U.S. airbase" in "U.S. airbases")."""
    folded = fold(name.strip())
    return bool(folded) and re.search(rf"(?<!\w){re.escape(folded)}(?:s|es)(?!\w)", normalise(text).text) is not None


def as_written(name: str, text: str) -> str | None:
    """The name as the article writes it: the name itself when grounding finds it (exact, normalised or fuzzy) or
    the article writes its plural; else its words before a comma or "in" when the article writes those
    ("al-Asad Airbase, Iraq" -> "al-Asad Airbase"); None when neither."""
    if ground(name, text).found or _plural_written(name, text):
        return name
    head = _QUALIFIED.split(name.strip(), maxsplit=1)[0].strip()
    if head and head != name.strip() and (ground(head, text).found or _plural_written(head, text)):
        return head
    return None


def verify_names(record: dict[str, Any], path: str, text: str, prefix: str) -> Resolution | None:
    """A name at `path` the article does not write (`as_written`) is repaired to the words it does write, or
    removed: a scalar nulled, a list's element dropped (the perpetrator whose name it is). Changes in place;
    returns the change, if any."""
    steps = parse_path(path)  # at most one list, holding names or objects with a name key: 'a[]', 'a[].name'
    at = next((index for index, (_, is_list) in enumerate(steps) if is_list), len(steps) - 1)
    holder = walk(record, steps[:at]) if at else record
    key, rest = steps[at][0], steps[at + 1 :]
    if not isinstance(holder, dict) or holder.get(key) is None:
        return None
    given = holder[key]
    if not steps[at][1]:
        if not isinstance(given, str) or (written := as_written(given, text)) == given:
            return None
        holder[key] = written
        return Resolution(f"{prefix}.{path}", given, written, _why(written))
    if not isinstance(given, list):
        return None
    kept, whys = [], []
    for item in given:
        name = walk(item, rest) if rest else item
        if not isinstance(name, str) or (written := as_written(name, text)) == name:
            kept.append(item)
            continue
        whys.append(f"{name!r}: {_why(written)}")
        if written is not None:  # the element is the name, or an object holding it at `rest`
            kept.append({**item, rest[0][0]: written} if rest else written)
    if not whys:
        return None
    holder[key] = kept
    return Resolution(f"{prefix}.{'.'.join(part for part, _ in steps[: at + 1])}", given, kept, "; ".join(whys))


def _why(written: str | None) -> str:
    return "not in the article" if written is None else f"the article writes {written!r}"


def resolve_records(
    records: list[dict[str, Any]], text: str, spec: SchemaSpec, anchor: Anchor | None = None
) -> list[Resolution]:
    """Resolve the schema's RESOLVED_FIELDS in place (a date against `anchor`: the publication date, else the
    dateline) and repair or remove its VERIFIED_FIELDS names the article does not write, then apply its trained
    stages (fillers retyped by ROLE_LEXICON, the record's type by TYPE_MODEL; every record set aside when
    RELEVANCE_MODEL finds the article reports none); the changes made."""
    changes: list[Resolution] = []
    for index, record in enumerate(records):
        at = f"{spec.list_field}[{index}]"
        for path, kind in spec.resolved_fields:
            for concrete, node in iter_path(record, path, at) if path else [(at, record)]:
                if not isinstance(node, dict):
                    continue
                for key, value, why in RESOLVERS[kind](node, text, anchor):
                    changes.append(Resolution(f"{concrete}.{key}", node.get(key), value, why))
                    node[key] = value
        # After resolution: "al-Asad Airbase, Iraq" names the country before it is trimmed to the article's words.
        for path in spec.verified_fields:
            if (removed := verify_names(record, path, text, f"{spec.list_field}[{index}]")) is not None:
                changes.append(removed)
    if spec.role_lexicon is not None:
        for index, record in enumerate(records):
            for slot, given, stored, why in spec.role_lexicon.retype(record, spec.role_slots):
                changes.append(Resolution(f"{spec.list_field}[{index}].{slot}", given, stored, why))
    if spec.type_model is not None:
        for index, record in enumerate(records):
            if (retyped := spec.type_model.retype(record, spec.type_field, spec.role_slots, text)) is not None:
                path = f"{spec.list_field}[{index}].{spec.type_field}"
                changes.append(Resolution(path, record.get(spec.type_field), retyped[0], retyped[1]))
                record[spec.type_field] = retyped[0]
    if spec.relevance is not None and records and (reason := spec.relevance.why_not(text)) is not None:
        changes.append(Resolution(spec.list_field, list(records), [], reason))
        records.clear()
    return changes
