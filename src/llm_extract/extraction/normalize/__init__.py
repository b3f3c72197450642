"""Normalisers: turn the article's words into the values analysts code, kept beside those words.

Each normaliser takes words the model copied from the article (a date phrase, a casualty phrase, place
names) and returns a small dict that says what it resolved to, by which rule, or why it could not.
Nothing here replaces what the model extracted; `annotate` stores the result beside it.
"""

from llm_extract.extraction.normalize.casualties import normalise_casualties
from llm_extract.extraction.normalize.countries import normalise_country
from llm_extract.extraction.normalize.dates import Anchor, find_dateline, resolve_date
from llm_extract.extraction.normalize.geo import normalise_location

__all__ = ["Anchor", "find_dateline", "normalise_casualties", "normalise_country", "normalise_location", "resolve_date"]
