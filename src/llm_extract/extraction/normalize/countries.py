"""Countries as ISO 3166-1 alpha-2, from the model's code or from the place names the article gives.

Two maintained sources, each for what it does best:
- country_converter (coco) reads a country written any way a journalist or a model writes it: a code ("IQ",
  "IRQ"), a short or official name, an old or common name ("Burma", "Ivory Coast", "U.S.", "UK", "Gaza",
  "Democratic Republic of the Congo" -> CD, not CG). Its regexes are loose search patterns ("western Iraq" ->
  IQ, but also "Santa Lucia" -> LC, "Sierra Maestra" -> SL), so they read a field meant to hold a country, never
  running text or place names.
- For place names and running text (`countries_named`) the names are matched as whole words, case-insensitively:
  pycountry's short, common and official names and the short name's part before a comma ("Iran, Islamic Republic
  of" -> "Iran"), coco's short and official names, and COMMON_NAMES, the names the news uses that neither lists;
  each name's code is coco's reading of it. A name two countries share ("Korea", "Congo") is left out rather than
  guessed. Codes are never matched inside words: "IN" in a sentence is not India.
- For the people's adjective ("Salvadoran troops", "two Colombians": `countries_mentioned`), countryinfo's
  demonyms (1.0.1, MIT; one per country). A demonym several entries share ("American": US and the Northern
  Mariana Islands; "Chinese": CN, HK, MO) is the most populous one's.

coco imports pandas and compiles its ~250 regexes once, on first use (pandas about 0.4 s, then coco and the name
pattern about 0.1 s: bench/geo.py).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

import pycountry

if TYPE_CHECKING:
    from country_converter import CountryConverter

PLACE_KEYS = ("site", "town", "region")
# Names the news uses for a country that neither pycountry nor coco lists as a name (coco reads each of them).
COMMON_NAMES = (
    "Democratic Republic of the Congo", "DR Congo", "Republic of the Congo", "Russia", "Turkey", "Britain",
    "Great Britain", "UK", "U.K.", "U.S.", "U.S.A.", "USA", "United States of America", "Gaza", "Gaza Strip",
    "West Bank", "Palestine", "Kosovo", "Burma", "Ivory Coast", "Côte d'Ivoire", "South Korea", "North Korea",
    "Syria", "Iran", "Laos", "Vietnam", "Czech Republic", "East Timor", "Cape Verde", "Swaziland",
)  # fmt: skip
# Abbreviations the news writes as adjectives: "U.S. troops" and "UK-led" name whose troops, not where they were.
_ABBREVIATIONS = {"uk", "u.k.", "u.s.", "u.s.a.", "usa"}
# An abbreviation is an adjective when a word follows it that is not a preposition, conjunction or verb of saying
# or being ("U.S. troops", "U.S.-led"; not "in the U.S. on Monday", "the U.S. said").
_MODIFIES = re.compile(
    r"-\w|\s+(?!(?:and|or|but|on|in|at|to|of|for|from|by|with|as|said|says|is|was|were|has|had|have|will|would)\b)"
    r"[a-z]"
)
_NOT_FOUND = "-"  # what coco writes for a name it does not know (its default for None is the name itself)


@cache
def _converter() -> CountryConverter:
    """coco, built once: importing it imports pandas and compiles its regexes."""
    import country_converter

    # coco logs a warning for every name it does not know; here that is an answer (None), not a problem.
    logging.getLogger("country_converter").setLevel(logging.ERROR)
    return country_converter.CountryConverter()


def country_code(name: str) -> str | None:
    """The alpha-2 code of a country written as a code or a name ("Burma" -> MM, "U.S." -> US, "IRQ" -> IQ);
    None when coco knows no country by it or reads two."""
    found = _converter().convert(name.strip(), to="ISO2", not_found=_NOT_FOUND)  # a list when two countries match
    return found if isinstance(found, str) and found != _NOT_FOUND else None


def country_name(code: str) -> str | None:
    """The country's ISO short name (pycountry), or coco's where ISO has none (Kosovo, XK)."""
    country = pycountry.countries.get(alpha_2=code)
    if country is not None:
        return str(country.name)
    name = _converter().convert(code, src="ISO2", to="name_short", not_found=_NOT_FOUND)
    return name if isinstance(name, str) and name != _NOT_FOUND else None


def _known_names() -> Iterator[tuple[str, str | None]]:
    """(name, alpha-2) from each source: pycountry's names, coco's table, coco's reading of COMMON_NAMES."""
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            if name := getattr(country, attribute, None):
                yield name, country.alpha_2
                yield name.split(",")[0].strip(), country.alpha_2
    table = _converter().data
    for short, official, code in zip(table["name_short"], table["name_official"], table["ISO2"], strict=True):
        code = code.split("|")[0].strip("^$")  # two rows hold a pattern ("^GB$|^UK$"): its first code is ISO's
        yield from ((name, code) for name in (short, official) if isinstance(name, str))
    yield from ((name, country_code(name)) for name in COMMON_NAMES)


@cache
def _names() -> tuple[re.Pattern[str], dict[str, str]]:
    """A whole-word pattern over every unambiguous country name (longest first), and lowercased name -> alpha-2.

    A name is ambiguous when two sources, or two countries of one source, give it different codes."""
    codes: defaultdict[str, set[str | None]] = defaultdict(set)
    for name, code in _known_names():
        if len(name) >= 4 or name in COMMON_NAMES:  # "UK" and "USA" by name; no two-letter code reads as a word
            codes[name.lower()].add(code)
    index: dict[str, str] = {}
    for name, found in codes.items():
        if len(found) == 1 and (code := found.pop()) is not None:
            index[name] = code
    alternation = "|".join(re.escape(name) for name in sorted(index, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE), index


def _named(text: str) -> Iterator[tuple[re.Match[str], str]]:
    """Each country name in `text` with its alpha-2 code ("U.S. troops" names none)."""
    pattern, index = _names()
    for match in pattern.finditer(text):
        name = match.group().lower()
        if not (name in _ABBREVIATIONS and _MODIFIES.match(text, match.end())):
            yield match, index[name]


def without_country_names(text: str) -> str:
    """`text` with its country names blanked: "El Salvador" writes no town called "Salvador"."""
    for match, _ in reversed(list(_named(text))):
        text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]
    return text


def countries_named(text: str) -> list[str]:
    """Alpha-2 codes of the countries `text` names, in order of first mention ("U.S. troops" names none)."""
    return list(dict.fromkeys(code for _, code in _named(text)))


@cache
def _demonyms() -> tuple[re.Pattern[str], dict[str, str]]:
    """A whole-word pattern over countryinfo's demonyms (and their plurals), and lowercased demonym -> alpha-2."""
    import countryinfo

    best: dict[str, tuple[int, str]] = {}
    for country in countryinfo.all_countries():
        demonym, code, population = country.demonym(), country.iso(2), country.population() or 0
        if demonym and code and population >= best.get(demonym.lower(), (-1, ""))[0]:
            best[demonym.lower()] = (population, code)
    index = {name: code for name, (_, code) in best.items()}
    alternation = "|".join(re.escape(name) for name in sorted(index, key=len, reverse=True))
    return re.compile(rf"(?<!\w)({alternation})s?(?!\w)", re.IGNORECASE), index


def countries_mentioned(text: str) -> list[str]:
    """Alpha-2 codes of the countries `text` names or whose people it names ("Salvadoran troops"), in order of
    first mention."""
    pattern, index = _demonyms()
    by_demonym = [(match.start(), index[match.group(1).lower()]) for match in pattern.finditer(text)]
    by_name = [(match.start(), code) for match, code in _named(text)]
    return list(dict.fromkeys(code for _, code in sorted(by_name + by_demonym, key=lambda pair: pair[0])))


def normalise_country(location: dict[str, Any] | None) -> dict[str, Any]:
    """The location's country: the model's code or name when coco reads it, else the one its place names name.

    `conflict` is set when the place names name another country than the model's."""
    location = location or {}
    given = location.get("country")
    places = " ; ".join(str(location[key]) for key in PLACE_KEYS if location.get(key))
    named = countries_named(places) if places else []
    result: dict[str, Any] = {"code": None, "name": None, "source": None, "status": "unresolved",
                              "named_in_places": named, "conflict": False}  # fmt: skip
    code = country_code(given) if isinstance(given, str) and given.strip() else None
    if code is not None:
        result.update(code=code, name=country_name(code), source="model", status="resolved")
        result["conflict"] = bool(named) and code not in named
    elif named:
        result.update(code=named[0], name=country_name(named[0]), source="place names", status="resolved")
    return result
