"""User-supplied strings (document ids, paths, server messages) shown in a terminal as text, never as markup.

An id such as `[/x]` is rich markup and raised inside the progress callback (the run then hung); an id with a
newline or an escape sequence rewrote the terminal. `shown()` makes any string safe to interpolate into a
rich markup string: control characters become visible escapes and markup brackets are escaped.
The other helpers put a run's figures in a terminal's terms: ids cut to a column, rates, durations.
"""

from __future__ import annotations

import re

from rich.markup import escape

# C0 and C1 controls, DEL, and lone surrogates (which no terminal encoding can write).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]|\n|\t")


def visible(text: object) -> str:
    """The string with control characters and lone surrogates written as escapes (`\\n`, `\\x1b`, `\\ud800`)."""
    return _UNPRINTABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), str(text))


def shown(text: object) -> str:
    """`visible()` and then escaped for rich markup: safe inside `console.print(f"... {shown(x)} ...")`."""
    return escape(visible(text))


def middle_truncated(text: str, width: int) -> str:
    """`text` cut to `width` characters by dropping its middle: ids of one run share a prefix and differ at the end
    (`muc4-dev-0001`), so both ends are kept where an end-ellipsis would keep only the shared part."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    return f"{text[: width - 1 - tail]}…{text[len(text) - tail :] if tail else ''}"


def document_rate(documents: int, seconds: float) -> str:
    """Throughput in the unit that reads well: '80 s/doc' for a slow local model, '12.5 docs/s' for a fast server
    (where '0.01 docs/s' and '0.08 s/doc' both need arithmetic to read)."""
    if documents <= 0 or seconds <= 0:
        return "-"
    per_document = seconds / documents
    if per_document >= 1:
        return f"{per_document:.0f} s/doc" if per_document >= 10 else f"{per_document:.1f} s/doc"
    return f"{documents / seconds:.1f} docs/s"


def clock(seconds: float) -> str:
    """A duration as h:mm:ss (an ETA, an elapsed time)."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
