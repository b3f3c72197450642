"""Field paths and values in a reader's words, for every review page (one definition, so pages never disagree).

A reviewer reads `Perpetrator 1 · attribution`, not `perpetrators[0].attribution`, and `drone; rifle`, `yes`,
`10–15`, not Python's `['drone', 'rifle']`, `True`, `{'range': [10, 15]}`.
"""

from __future__ import annotations

import json
import re
from typing import Any

ALTERNATIVES = 3  # accepted spellings of a gold value shown before "+N accepted"
EMPTY = "∅"  # no value: null, or an empty list
_STEP = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>\d*)\])?$")


def _singular(word: str) -> str:
    """'perpetrators' -> 'perpetrator', 'casualties' -> 'casualty'; 'evidence', 'address', 'status' stay."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(key: str) -> str:
    return key.replace("_", " ")


def field_label(path: str) -> str:
    """A field path as a label: 'perpetrators[0].attribution' -> 'Perpetrator 1 · attribution',
    'casualties.killed.min' -> 'Casualties · killed · min', 'weapons[].type' -> 'Weapons · type'.
    A path this cannot read (empty, stray brackets) is returned as it is rather than guessed at."""
    steps = [_STEP.match(step) for step in path.split(".")]
    if not path or any(step is None for step in steps):
        return path
    parts: list[str] = []
    for step in steps:
        assert step is not None  # checked above, for the type checker
        key, index = step["key"], step["index"]
        parts.append(f"{_words(_singular(key))} {int(index) + 1}" if index else _words(key))
    parts[0] = parts[0][:1].upper() + parts[0][1:]
    return " · ".join(parts)


def _one(value: Any) -> str:
    """One value as words: alternatives joined by ' / ', a number range as low–high, booleans as yes/no."""
    if value is None or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        more = len(value) - ALTERNATIVES
        return " / ".join(_one(item) for item in value[:ALTERNATIVES]) + (f" (+{more} accepted)" if more > 0 else "")
    if isinstance(value, dict) and set(value) == {"range"}:
        low, high = value["range"]
        return f"{_one(low)}–{_one(high)}"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def value_text(value: Any, many: bool = True) -> str:
    """A value as text, never a Python repr. A list field's items are joined by '; ' (each gold item's accepted
    spellings by ' / '); with many=False a list is one gold value's accepted alternatives, joined by ' / '.
    True/False read 'yes'/'no', {"range": [a, b]} reads 'a–b', null and [] read '∅'."""
    if many and isinstance(value, list) and value:
        return "; ".join(_one(item) for item in value)
    return _one(value)
