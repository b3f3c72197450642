"""Dates: the article's date words resolved against the publication date, at the precision they give.

- The anchor is the publication date from the input (JSONL `published`), else a dateline near the top
  of the article ("by | Oct 18, 2023"); see `find_dateline`.
- A phrase that means the same day whatever the anchor ("18 October 2023") resolves without one.
  A phrase whose meaning depends on the anchor ("on Wednesday", "last week", "Oct 18", "two days ago")
  resolves only with one; without it the result says `unresolved` and why.
- Relative phrases point to the past (news reports what happened). A bare weekday is the most recent
  such day on or before publication: "on Wednesday" in an article published on a Wednesday is that day.
- Precision follows the phrase: day ("Saturday evening" too), week ("last week"), month, year. `start`
  and `end` bound the whole period (the ISO week Monday to Sunday, the calendar month, the year), except
  that a relative period ends at the anchor: "earlier this month" in an article of 18 October is 1 to 18
  October, since what the article reports had happened by then.

Parsing is dateparser's (English); this module adds the anchor, the weekday rule and the precision range.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

from dateparser.date import DateDataParser
from dateparser.search import search_dates

AnchorSource = Literal["published", "dateline"]
Precision = Literal["day", "week", "month", "year"]
_PERIOD_PRECISION: dict[str, Precision] = {
    "time": "day", "part_of_day": "day", "day": "day", "week": "week", "month": "month", "year": "year",
}  # fmt: skip
# Two unrelated reference days: a phrase that parses to the same date from both does not need an anchor.
_PROBES = (dt.datetime(2001, 6, 13, 12), dt.datetime(2013, 2, 24, 12))
DATELINE_CHARS = 600  # a dateline sits in the first lines: byline, place and date
_EARLIER = re.compile(r"\b(?:last|previous|past)\b", re.IGNORECASE)  # "last Wednesday": not this one
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATELINE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"  # Oct 18, 2023
    rf"|\d{{1,2}}\s+{_MONTH},?\s+(?:\d{{4}}|\d{{2}})"  # 18 October 2023, 12 JAN 90
    r"|\d{4}-\d{2}-\d{2})\b",  # 2023-10-18
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Anchor:
    """The date relative expressions are resolved against, and where it came from."""

    date: dt.date
    source: AnchorSource
    text: str | None = None  # the dateline's words, when found in the text
    start: int | None = None  # their offsets in the text
    end: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "source": self.source, "text": self.text,
                "start": self.start, "end": self.end}  # fmt: skip


def _parser(base: dt.datetime, **settings: Any) -> DateDataParser:
    return DateDataParser(
        languages=["en"],
        settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "RETURN_TIME_AS_PERIOD": True, **settings},
    )


def find_dateline(text: str) -> Anchor | None:
    """A complete date (day, month and year) in the article's first lines, taken as its publication date."""
    for match in _DATELINE.finditer(text[:DATELINE_CHARS]):
        parsed = _parser(_PROBES[0], REQUIRE_PARTS=["day", "month", "year"]).get_date_data(match.group())
        if parsed.date_obj is not None:
            return Anchor(parsed.date_obj.date(), "dateline", match.group(), match.start(), match.end())
    return None


def period_range(day: dt.date, precision: Precision) -> tuple[dt.date, dt.date]:
    """The first and last day of the ISO week, month or year that holds `day` (the day itself otherwise)."""
    if precision == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=6)
    if precision == "month":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if precision == "year":
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    return day, day


def _parse(phrase: str, base: dt.datetime) -> tuple[dt.date, Precision, str] | None:
    """The whole phrase, else the first date dateparser finds inside it: (date, precision, words used)."""
    data = _parser(base).get_date_data(phrase)
    words = phrase
    if data.date_obj is None:
        found = search_dates(phrase, languages=["en"], settings={"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past"})
        if not found:
            return None
        words = found[0][0]
        data = _parser(base).get_date_data(words)
        if data.date_obj is None:
            return None
    return data.date_obj.date(), _PERIOD_PRECISION.get(data.period or "day", "day"), words


def _period(parsed: tuple[dt.date, Precision, str] | None) -> tuple[dt.date, dt.date, Precision] | None:
    return None if parsed is None else (*period_range(parsed[0], parsed[1]), parsed[1])


def _named_weekday(words: str) -> int | None:
    lowered = words.lower()
    days = [i for i, name in enumerate(calendar.day_name) if re.search(rf"\b{name.lower()}\b", lowered)]
    return days[0] if len(days) == 1 else None


def resolve_date(phrase: str | None, anchor: Anchor | None) -> dict[str, Any]:
    """Resolve the article's date words; the result keeps the words, the rule and the anchor used."""
    result: dict[str, Any] = {"text": phrase, "start": None, "end": None, "precision": "unknown",
                              "status": "unresolved", "reason": None,
                              "anchor": anchor.as_dict() if anchor else None}  # fmt: skip
    if not phrase or not phrase.strip():
        result["reason"] = "no date words in the record"
        return result
    probes = [_period(_parse(phrase, base)) for base in _PROBES]
    if probes[0] is None:
        result["reason"] = "no date found in the words"
        return result
    if probes[0] == probes[1]:
        start, end, precision = probes[0]
        result["reason"] = "absolute date: no anchor needed"
    elif anchor is None:
        result["reason"] = "relative date and no publication date (none in the input, no dateline in the text)"
        return result
    else:
        parsed = _parse(phrase, dt.datetime.combine(anchor.date, dt.time(12)))
        if parsed is None:
            result["reason"] = "no date found in the words"
            return result
        day, precision, words = parsed
        same_weekday = _named_weekday(words) == anchor.date.weekday() and not _EARLIER.search(words)
        if precision == "day" and same_weekday and day < anchor.date:
            day = anchor.date  # dateparser reads a bare weekday as last week's; news means the latest one
        start, end = period_range(day, precision)
        end = min(end, anchor.date)  # "this month", "earlier this year": not after the report
        result["reason"] = f"relative to the {anchor.source} date {anchor.date.isoformat()}"
    result.update(start=start.isoformat(), end=end.isoformat(), precision=precision, status="resolved")
    return result
