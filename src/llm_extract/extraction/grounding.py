"""Locate a quoted value in its source text: exact, then normalised, then fuzzy, or not found.

A small model paraphrases, re-cases and "corrects" what it copies, and sometimes invents. Grounding
finds where each value it claims to have copied sits in the article, as character offsets into the
original text, so a reader (or the review page) can check it, and says how sure the match is:

- exact: the quote occurs verbatim (on word boundaries where it starts or ends with a letter or digit);
- normalised: it occurs once case, curly quotes, dashes and runs of whitespace are made uniform;
- fuzzy: a passage of the text matches it with a rapidfuzz partial-ratio score >= FUZZY_THRESHOLD;
- not_found: none of these.

When several places match, the first one inside a `prefer`red range (an incident's own evidence
sentences) wins, then the first in the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

from rapidfuzz import fuzz

from llm_extract.core.text import TYPOGRAPHY, fold_with_origins, squash_spaces

Status = Literal["exact", "normalised", "fuzzy", "not_found"]
FOUND: tuple[Status, ...] = ("exact", "normalised", "fuzzy")
FUZZY_THRESHOLD = 90.0  # partial-ratio score; below it a near-miss is reported as not found
# Fuzzy matching is for quoted sentences, where a model drops or changes a word. A short value that
# differs by a letter is another value ("no injuries" is not "nor injuries"): exact or normalised only.
FUZZY_MIN_CHARS = 20


@dataclass(frozen=True)
class Span:
    """Where one value was found: offsets into the original text (end exclusive), or None when not found."""

    path: str  # which value, e.g. 'incidents[0].location.site'
    quote: str  # the value as the model gave it
    status: Status
    start: int | None
    end: int | None
    score: float  # 100 for exact and normalised matches; the fuzzy score otherwise; 0 when not found

    @property
    def found(self) -> bool:
        return self.status in FOUND

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NormalisedText:
    """The text folded for matching, and for each folded character the index of its source character."""

    text: str
    source_index: tuple[int, ...]  # a space's: the first of the whitespace run it stands for

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        return self.source_index[start], self.source_index[end - 1] + 1


def fold(text: str) -> str:
    """Case, quote, dash and whitespace folding, without the offset map (for quotes)."""
    return squash_spaces(text.translate(TYPOGRAPHY).lower())


@lru_cache(maxsize=32)
def normalise(text: str) -> NormalisedText:
    """Fold `text` as `fold` does, remembering where every folded character came from (lower() may lengthen a
    character, e.g. 'İ': each part maps back to it)."""
    folded, origins = fold_with_origins(text.translate(TYPOGRAPHY), str.lower)
    if folded.endswith(" "):  # `fold` keeps no space at the end
        folded, origins = folded[:-1], origins[:-1]
    return NormalisedText(folded, tuple(origins))


def _pattern(quote: str) -> re.Pattern[str]:
    """The quote as a literal, anchored on word boundaries at an end that is a word character."""
    head = r"(?<!\w)" if quote[:1].isalnum() else ""
    tail = r"(?!\w)" if quote[-1:].isalnum() else ""
    return re.compile(head + re.escape(quote) + tail)


def _pick(candidates: Sequence[tuple[int, int]], prefer: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    for start, end in candidates:
        if any(lo <= start and end <= hi for lo, hi in prefer):
            return start, end
    return candidates[0] if candidates else None


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a fuzzy alignment to whole words and trim the spaces at its ends ('ee drones' -> 'three drones')."""
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum() and text[end - 1].isalnum():
        end += 1
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def locate(quote: str, text: str, path: str = "", prefer: Sequence[tuple[int, int]] = ()) -> Span:
    """Find `quote` in `text` (see the module docstring for the order of attempts)."""
    stripped = quote.strip()
    if not stripped:
        return Span(path, quote, "not_found", None, None, 0.0)
    exact = [match.span() for match in _pattern(stripped).finditer(text)]
    if (hit := _pick(exact, prefer)) is not None:
        return Span(path, quote, "exact", hit[0], hit[1], 100.0)
    folded_text, folded_quote = normalise(text), fold(stripped)
    spans = [folded_text.source_span(*match.span()) for match in _pattern(folded_quote).finditer(folded_text.text)]
    if (hit := _pick(spans, prefer)) is not None:
        return Span(path, quote, "normalised", hit[0], hit[1], 100.0)
    if len(folded_quote) >= FUZZY_MIN_CHARS:
        alignment = fuzz.partial_ratio_alignment(folded_quote, folded_text.text, score_cutoff=FUZZY_THRESHOLD)
        if alignment is not None and alignment.dest_end > alignment.dest_start:
            start, end = _whole_words(text, *folded_text.source_span(alignment.dest_start, alignment.dest_end))
            return Span(path, quote, "fuzzy", start, end, round(alignment.score, 1))
    return Span(path, quote, "not_found", None, None, 0.0)
