"""Reports: one article's account of one incident (`SourceIncident`), and how names in reports compare.

Linking (`llm_extract.events.fusion`) and the canonical event (`llm_extract.events.canonical`) both read reports and
compare the names in them, so both take these from here. A name is compared by its words
(`core.text.fold_name`, stopwords dropped): every word of the shorter name must match a word of the
longer one, exactly or with rapidfuzz ratio >= the threshold. A site's facility words and a trailing
"in western Iraq" do not name it, and "a base in western Iraq" or "a second base" names no site.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from rapidfuzz import fuzz

from llm_extract.core.text import fold_name

_STOPWORDS = frozenset({"a", "an", "the", "of", "and", "on"})
_FACILITY_WORDS = frozenset(
    {"base", "airbase", "air", "airfield", "airport", "military", "camp", "station", "facility", "compound"}
)
_DESCRIBING_WORDS = frozenset({"a", "an", "another", "one", "some", "second", "third", "unnamed", "unidentified"})
_QUALIFIERS = frozenset({"in", "near", "at"})  # "al-Asad base in western Iraq": the site is what comes before

Name = tuple[str, ...]  # a name's words, normalised
Period = tuple[dt.date, dt.date]  # first and last day, inclusive


class Range(NamedTuple):
    """A casualty figure as a report gives it (min/max, None when open or unknown) with its words."""

    min: int | None
    max: int | None
    words: str | None


@dataclass(frozen=True, eq=False)
class SourceIncident:
    """One article's account of one incident, with what linking compares worked out once."""

    id: str
    doc_id: str
    index: int
    incident: dict[str, Any]
    period: Period | None  # the days the report allows, as linking reads them
    date: dict[str, str] | None  # the date as the report gives it (start, end, precision)
    country: str | None
    killed: Range | None
    injured: Range | None
    meta: dict[str, Any]
    site: Name | None
    town: Name | None
    region: Name | None
    sub_event_type: str | None
    actors: tuple[Name, ...]
    weapons: dict[str, int | None]  # type -> count (summed over the record's items; None if none given)

    @property
    def order(self) -> tuple[bool, str, str, int]:
        """Earliest report first: by publication date (reports without one last), then article, then position."""
        published = self.meta.get("published")
        return (published is None, str(published or ""), self.doc_id, self.index)


# ---- names ----------------------------------------------------------------------------------


def name_words(text: Any, site: bool = False) -> Name | None:
    """A name's words for comparison; for a site, None when the words describe a place without naming it."""
    if not isinstance(text, str) or not text.strip():
        return None
    words = fold_name(text).split()
    if site:
        if not words or words[0] in _DESCRIBING_WORDS:
            return None
        cut = next((i for i, word in enumerate(words) if word in _QUALIFIERS), len(words))
        words = [word for word in words[:cut] if word not in _FACILITY_WORDS]
    kept = tuple(word for word in words if word not in _STOPWORDS)
    return kept or None


@lru_cache(maxsize=1 << 20)  # distinct name pairs met: places and actors of one country
def same_name(a: Name, b: Name, threshold: float = 85.0) -> bool:
    """Every word of the shorter name matches a word of the longer one (exactly or fuzzily)."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return all(any(x == y or fuzz.ratio(x, y) >= threshold for y in long) for x in short)
