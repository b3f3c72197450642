"""Text inside an article that addresses the model ("ignore your previous instructions ...") is set aside.

A 1.5B model obeys such text: seed article 003 with one planted paragraph telling it to report no attack
gave an empty answer (tests/test_cassettes.py, recorded before this guard existed). The article is data,
not instructions, so each line that tries to override instructions is replaced, in the prompt only, by
MARKER. The stored record lists the removed passages (`injections`, offsets into the original text), and
grounding still runs against the original text, so nothing is hidden from the reader.

Detection is a pattern, not a classifier: it catches the common override phrasing, may miss a paraphrase,
and may flag an article that quotes such a phrase (a story about jailbreaks). Both cases show in the record.
"""

from __future__ import annotations

import re

OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}?\b(?:instructions?|prompts?|rules|guidelines)\b",
    re.IGNORECASE,
)
MARKER = "[llm-extract removed a passage here that gave instructions to AI systems]"
MAX_LINE = 600  # a longer "line" is a text without line breaks (MUC-4's): set aside sentences, not all of it
SENTENCES_AFTER = 2  # a planted override goes on to say what to output: those sentences go too
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def _passage(text: str, match_start: int, match_end: int) -> tuple[int, int]:
    """The line holding the phrase; in a long line, its sentence and the next SENTENCES_AFTER ones."""
    start = text.rfind("\n", 0, match_start) + 1
    end = text.find("\n", match_end)
    end = len(text) if end == -1 else end
    if end - start <= MAX_LINE:
        return start, end
    previous = [m.end() for m in _SENTENCE_END.finditer(text, start, match_start)]
    start = previous[-1] if previous else start
    following = [m.end() for m in _SENTENCE_END.finditer(text, match_end, end)][: SENTENCES_AFTER + 1]
    return start, following[-1] if following else end


def find_injections(text: str) -> list[tuple[int, int]]:
    """The lines (start, end offsets) holding an instruction-override phrase, in order, without overlaps."""
    spans: list[tuple[int, int]] = []
    for match in OVERRIDE.finditer(text):
        start, end = _passage(text, match.start(), match.end())
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def neutralise(text: str, spans: list[tuple[int, int]]) -> str:
    """The text the model is shown: each flagged line replaced by MARKER."""
    pieces, position = [], 0
    for start, end in spans:
        pieces += [text[position:start], MARKER]
        position = end
    return "".join([*pieces, text[position:]])
