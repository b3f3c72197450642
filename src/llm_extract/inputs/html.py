"""HTML articles: the main text without the page's menus, share bars and ad notices, read by trafilatura.

A saved news page is mostly not the article ("Enjoy ad-free browsing", navigation, related links), and the
model reads all of it as article text. trafilatura keeps the main text (tables too, comments not) and reads
the title, publication date and canonical url from the page's metadata. Dates come from the page's markup
only (htmldate without its extensive search, which would take any date printed in the page's text), so a
page that does not state its publication date gets none rather than a guess.
"""

from __future__ import annotations

import trafilatura
from trafilatura.settings import Document as ExtractedPage
from trafilatura.settings import use_config

from llm_extract.inputs.metadata import Parsed

# Main text shorter than this is no article: what trafilatura finds in a page without one is a menu label.
MIN_MAIN_TEXT_CHARS = 25

_CONFIG = use_config()
_CONFIG.set("DEFAULT", "EXTENSIVE_DATE_SEARCH", "off")


def read_html(data: bytes) -> Parsed:
    """The page's main text and its title, date and url when the page's metadata gives them; a ValueError
    when the page has no main text to extract."""
    found = trafilatura.bare_extraction(data, with_metadata=True, include_comments=False, config=_CONFIG)
    text = found.text if isinstance(found, ExtractedPage) else None
    if not isinstance(found, ExtractedPage) or not text or len(text.strip()) < MIN_MAIN_TEXT_CHARS:
        raise ValueError("no main text found in the HTML page (trafilatura extracted nothing that reads as an article)")
    metadata = {key: value for key in ("title", "url") if (value := getattr(found, key))}
    if found.date:
        metadata["published"] = found.date
    return Parsed(text, metadata)
