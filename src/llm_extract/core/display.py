"""User-supplied strings (document ids, paths, server messages) shown in a terminal as text, never as markup.

An id such as `[/x]` is rich markup and raised inside the progress callback (the run then hung); an id with a
newline or an escape sequence rewrote the terminal. `shown()` makes any string safe to interpolate into a
rich markup string: control characters become visible escapes and markup brackets are escaped.
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
