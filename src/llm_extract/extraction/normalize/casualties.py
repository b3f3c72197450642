"""Casualty phrases to ranges (UCDP's low/high practice): "at least 1,400" -> min 1,400, no maximum.

Rules, first match wins (the `rule` in the result names the one used):

| rule        | examples                                              | min        | max        |
|-------------|-------------------------------------------------------|------------|------------|
| none        | "no casualties", "no injuries", "nobody was hurt"     | 0          | 0          |
| between     | "between 10 and 15", "10 to 15", "10-15"              | 10         | 15         |
| at_least    | "at least 5", "more than 5" (min 6), "5 or more"      | 5          | none       |
| at_most     | "up to 7", "as many as 7", "at most 7"                | none       | 7          |
| approximate | "about 20", "around 20", "nearly 20", "some 20"       | 20         | 20         |
| scaled      | "several hundred", "a few thousand", "several dozen"  | 300        | 999        |
| sum         | "two soldiers and a civilian", "2 police, a civilian" | 3          | 3          |
| exact       | "3 killed", "three soldiers", "a dozen"               | 3          | 3          |
| vague       | "several" 3-9, "dozens" 24-99, "scores" 40-99, "hundreds" 200-999, "thousands" 2,000-9,999 | | |
| some        | "minor injuries", "an undisclosed number", "wounded", "casualties" | 1 | none |
| unknown     | no words, or words with no figure in them             | none       | none       |

"A few" is 2-5 and "a couple" 2. A vague word before "hundred", "thousand" or "dozen" scales its range up to
just below the next count of the unit: "several hundred" is 300-999 (several is 3-9: 3 x 100 to 10 x 100 - 1),
"a few thousand" 2,000-5,999. Counted groups joined by "and" or commas are added up ("a" counts one), unless a
group's count is followed by a casualty word ("3 killed and 5 wounded" are two figures, not one).
Number words become digits through number-parser ("twenty-five" -> 25).
The vague ranges are this project's convention, chosen so that the plural's least reading is the minimum
("hundreds" is at least two hundred) and the next word up is out of range ("hundreds" is not "thousands").
"""

from __future__ import annotations

import re
from typing import Any

from number_parser import parse as words_to_digits

_NUMBER = r"(\d[\d,]*)"
_NONE = re.compile(
    r"\b(?:no|zero|nobody|none)\b(?:\s+\w+){0,3}?\s*\b(?:casualt|injur|death|dead|fatalit|one|wound|kill|hurt|victim)"
    r"|^\s*(?:none|no|zero|nil|0)\s*$|\b(?:no one|nobody)\b|\bunharmed\b|\bunhurt\b|\bwithout (?:casualties|injur)",
    re.IGNORECASE,
)
_BETWEEN = re.compile(rf"\bbetween\s+{_NUMBER}\s+and\s+{_NUMBER}|\b{_NUMBER}\s*(?:-|to|or)\s*{_NUMBER}\b", re.I)
_AT_LEAST = re.compile(
    rf"\b(at least|more than|over|upwards of|in excess of)\s+{_NUMBER}|{_NUMBER}\s*(\+|or more)", re.I
)
_AT_MOST = re.compile(rf"\b(?:up to|as many as|at most|no more than|fewer than|less than)\s+{_NUMBER}", re.I)
_APPROX = re.compile(rf"\b(?:about|around|approximately|nearly|almost|some|roughly|an estimated)\s+{_NUMBER}", re.I)
_DOZENS = re.compile(rf"{_NUMBER}\s+dozen\b", re.IGNORECASE)
_EXACT = re.compile(rf"(?<![\w.]){_NUMBER}(?![\w.])")
VAGUE: dict[str, tuple[int, int | None]] = {
    "a couple": (2, 2), "a few": (2, 5), "several": (3, 9), "dozens": (24, 99), "scores": (40, 99),
    "hundreds": (200, 999), "thousands": (2000, 9999), "a dozen": (12, 12), "a handful": (2, 5),
}  # fmt: skip
_VAGUE = re.compile(r"\b(" + "|".join(re.escape(word) for word in VAGUE) + r")\b", re.IGNORECASE)
_SCALED = re.compile(
    r"\b(" + "|".join(re.escape(word) for word in VAGUE) + r")(?:\s+of)?\s+(hundred|thousand|dozen)s?\b", re.I
)
_UNITS = {"hundred": 100, "thousand": 1000, "dozen": 12}
_GROUP = re.compile(r"^(\d[\d,]*|an?)\s+(?!(?:killed|dead|died|wounded|injured|hurt)\b)[a-z]", re.IGNORECASE)
_GROUPS = re.compile(r",\s*(?:and\s+)?|\s+and\s+", re.IGNORECASE)
_SOME = re.compile(
    r"\b(?:undisclosed|unknown number|unspecified|a number of|some|minor|slight|light|serious|several)\b"
    r"|\b(?:injur|wound|hurt|casualt|kill|dead|death)",
    re.IGNORECASE,
)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _result(text: str | None, low: int | None, high: int | None, rule: str) -> dict[str, Any]:
    status = "unresolved" if rule == "unknown" else "resolved"
    return {"text": text, "min": low, "max": high, "rule": rule, "status": status}


def _group_sum(digits: str) -> int | None:
    """The sum of two or more counted groups ("2 soldiers and a civilian" -> 3), else None."""
    groups = [_GROUP.match(part.strip()) for part in _GROUPS.split(digits)]
    if len(groups) < 2 or not all(groups):
        return None
    return sum(1 if match.group(1).lower() in {"a", "an"} else _int(match.group(1)) for match in groups if match)


def phrase_range(text: str | None) -> dict[str, Any]:
    """The range a casualty phrase states (see the module table)."""
    if not text or not text.strip():
        return _result(text, None, None, "unknown")
    if _NONE.search(text):
        return _result(text, 0, 0, "none")
    if match := _SCALED.search(text):
        (low, high), unit = VAGUE[match.group(1).lower()], _UNITS[match.group(2).lower()]
        return _result(text, low * unit, ((high or low) + 1) * unit - 1, "scaled")
    digits = words_to_digits(text) if re.search(r"[a-z]", text, re.IGNORECASE) else text
    digits = _DOZENS.sub(lambda match: str(_int(match.group(1)) * 12), digits)  # "two dozen" -> 24
    if match := _BETWEEN.search(digits):
        low, high = (_int(g) for g in match.groups() if g is not None)
        return _result(text, min(low, high), max(low, high), "between")
    if match := _AT_LEAST.search(digits):
        words, number = (match.group(1), match.group(2)) if match.group(2) else (match.group(4), match.group(3))
        strict = words is not None and words.lower() in {"more than", "over", "upwards of", "in excess of"}
        return _result(text, _int(number) + (1 if strict else 0), None, "at_least")
    if match := _AT_MOST.search(digits):
        return _result(text, None, _int(match.group(1)), "at_most")
    if match := _APPROX.search(digits):
        return _result(text, _int(match.group(1)), _int(match.group(1)), "approximate")
    if (total := _group_sum(digits)) is not None:
        return _result(text, total, total, "sum")
    if match := _VAGUE.search(text):
        vague_low, vague_high = VAGUE[match.group(1).lower()]
        return _result(text, vague_low, vague_high, "exact" if vague_low == vague_high else "vague")
    if match := _EXACT.search(digits):
        return _result(text, _int(match.group(1)), _int(match.group(1)), "exact")
    if _SOME.search(text):
        return _result(text, 1, None, "some")
    return _result(text, None, None, "unknown")


def normalise_casualties(count: dict[str, Any] | None) -> dict[str, Any]:
    """A record's casualty count ({min, max, text}): the phrase's range, and whether the model's figures agree."""
    count = count or {}
    result = phrase_range(count.get("text"))
    model = (count.get("min"), count.get("max"))
    result["model"] = {"min": model[0], "max": model[1]}
    result["agrees"] = None if result["status"] == "unresolved" else model == (result["min"], result["max"])
    return result
