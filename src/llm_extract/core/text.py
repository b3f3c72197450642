"""Text folding: what makes two spellings of the same words compare equal.

Each use folds as much as its purpose allows, so there is no single fold for all:
- `fold_name`: names compared by the field scorer and by report linking (accents, case, punctuation, "the");
- `fold_with_origins`: a fold that keeps, for each folded character, the offset of the character it came from,
  for matching in a folded copy of an article and pointing back into the article (grounding; the injection
  detector, which folds far more: look-alike letters, digits for letters);
- the GTT metric's own normalisation stays in `llm_extract.scoring.gtt`: it reproduces a published scorer,
  rule for rule.
Their shared pieces are here: the typographic marks table, accent stripping and whitespace squashing.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable

# Typographic quotes, dashes and the no-break space written as their ASCII forms: a model copies an article's
# "smart" quotes and dashes as plain ones, or the reverse.
TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'",
                            "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
                            "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
                            "\u00a0": " "})  # fmt: skip
# fold_name maps only these before it drops punctuation (a mapped dash becomes a space, another one is dropped):
# the scorer has always read names so, and stored scores depend on it.
_NAME_MARKS = {ord(char): TYPOGRAPHY[ord(char)] for char in "\u2018\u2019\u201c\u201d\u2010\u2013"}


def squash_spaces(text: str) -> str:
    """Every run of whitespace made one space, none at the ends."""
    return " ".join(text.split())


def strip_accents(text: str) -> str:
    """Compatibility-decomposed (NFKD: 'ﬁ' -> 'fi', 'é' -> 'e' + accent) with the combining marks dropped."""
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


@functools.lru_cache(maxsize=65536)
def fold_name(text: str) -> str:
    """Case, accents, quotes, hyphens, punctuation and a leading article do not distinguish names."""
    text = strip_accents(str(text).translate(_NAME_MARKS)).casefold()
    text = re.sub(r"[^\w\s]", "", re.sub(r"[-_/]", " ", text))
    return re.sub(r"^the ", "", squash_spaces(text))


def fold_with_origins(text: str, fold_char: Callable[[str], str]) -> tuple[str, list[int]]:
    """`text` folded character by character by `fold_char` (to nothing, one or several characters), each run of
    whitespace made one space (none at the start), and for each folded character the offset in `text` of the
    character it came from (a space: the first of its run)."""
    folded: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        if char.isspace():
            if folded and folded[-1] != " ":
                folded.append(" ")
                origins.append(index)
            continue
        for piece in fold_char(char):
            folded.append(piece)
            origins.append(index)
    return "".join(folded), origins


def text_sha256(text: str) -> str:
    """A text's identity (UTF-8 bytes): what a run line stores, resume keys and a prompt's examples compare."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
