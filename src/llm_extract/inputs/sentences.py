"""An article's sentences, numbered, so that the model can cite evidence by number instead of copying it.

Copying a sentence costs the model one generated token per word or so (on the embedded model a seed article's
evidence quotes were 50 to 250 of its 450 to 950 generated tokens); a number costs one or two, and the quote the
tool puts back is the article's own text, so evidence is exact by construction. Sentences come from sentencex
(Wikimedia's rule-based segmenter, about 300 languages) with their character offsets; the article is shown with a
`[n] ` mark before each sentence and is otherwise unchanged, line breaks and all.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sentencex import get_sentence_boundaries

from llm_extract.core.paths import replace_path

LANGUAGE = "en"  # sentencex falls back to its generic rules for text in other languages
MAX_QUOTE_CHARS = 400  # a cited sentence longer than this is cut at a word boundary (schemas bound quotes)


@dataclass(frozen=True)
class Sentence:
    number: int  # from 1, as the model sees it
    start: int  # character offsets of the sentence in the article, whitespace trimmed
    end: int


@lru_cache(maxsize=64)
def split_sentences(text: str) -> tuple[Sentence, ...]:
    """The article's sentences in order (paragraph breaks and blank stretches are not sentences)."""
    sentences: list[Sentence] = []
    for boundary in get_sentence_boundaries(LANGUAGE, text):
        start, end = int(boundary["start_index"]), int(boundary["end_index"])
        piece = text[start:end]
        stripped = piece.strip()
        if not stripped or boundary.get("is_paragraph_break"):
            continue
        start += len(piece) - len(piece.lstrip())
        sentences.append(Sentence(len(sentences) + 1, start, start + len(stripped)))
    return tuple(sentences)


def mark(number: int) -> str:
    return f"[{number}] "


def numbered(text: str, sentences: tuple[Sentence, ...]) -> str:
    """The article with `[n] ` before each sentence, nothing else changed."""
    pieces, position = [], 0
    for sentence in sentences:
        pieces += [text[position : sentence.start], mark(sentence.number)]
        position = sentence.start
    return "".join([*pieces, text[position:]])


def shift_spans(spans: list[tuple[int, int]], sentences: tuple[Sentence, ...]) -> list[tuple[int, int]]:
    """Spans of the article moved to where they are in `numbered(text)`: a span starting at a sentence's start
    starts after its mark; one ending there ends before it."""
    starts = [sentence.start for sentence in sentences]
    widths = [len(mark(sentence.number)) for sentence in sentences]
    prefix = [0]
    for width in widths:
        prefix.append(prefix[-1] + width)
    return [(start + prefix[bisect_right(starts, start)], end + prefix[bisect_left(starts, end)])
            for start, end in spans]  # fmt: skip


def quote(text: str, sentence: Sentence) -> str:
    """The sentence as evidence: its own text, cut at a word boundary if longer than MAX_QUOTE_CHARS."""
    words = text[sentence.start : sentence.end]
    if len(words) <= MAX_QUOTE_CHARS:
        return words
    cut = words[:MAX_QUOTE_CHARS]
    return cut[: cut.rfind(" ")].rstrip() if " " in cut else cut


def cite(
    records: list[dict[str, Any]], paths: tuple[str, ...], text: str, sentences: tuple[Sentence, ...]
) -> list[dict[str, Any]]:
    """Records whose sentence numbers at `paths` (e.g. 'evidence[]') are replaced by those sentences' words."""

    def words(number: Any) -> Any:
        return (
            quote(text, sentences[number - 1]) if isinstance(number, int) and 1 <= number <= len(sentences) else number
        )

    for path in paths:
        records = [replace_path(record, path, words) for record in records]
    return records
