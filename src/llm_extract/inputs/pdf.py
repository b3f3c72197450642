"""PDF articles and reports: the text layer, read page by page with pypdf.

Pages are joined with a blank line and the offset where each starts is kept (`Parsed.pages`), so a quote's
character offset maps back to the page a reader would open. There is no OCR: a PDF without a text layer (a
scan) is refused with that reason, and pages without text in an otherwise readable PDF are named in a note.
A PDF encrypted with an empty user password (restrictions only, which every viewer opens) is read; one that
needs a password is refused.
"""

from __future__ import annotations

import io

from pypdf import PdfReader
from pypdf.errors import DependencyError, PyPdfError

from llm_extract.inputs.metadata import Parsed

PAGE_BREAK = "\n\n"
MAX_LISTED_PAGES = 10
# What pypdf raises on a damaged file besides its own errors (a broken object table, a truncated stream).
_DAMAGED = (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError)


def read_pdf(data: bytes) -> Parsed:
    """The PDF's text, page start offsets, and title from its document information when set."""
    page_texts: list[str] = []
    title = None
    try:
        reader = PdfReader(io.BytesIO(data))
        opened = not reader.is_encrypted or bool(reader.decrypt(""))
        if opened:
            page_texts = [page.extract_text() for page in reader.pages]
            title = reader.metadata.title if reader.metadata is not None else None
    except DependencyError as exc:  # AES without the cryptography package
        raise ValueError(f"encrypted PDF that cannot be opened here: {exc}") from None
    except _DAMAGED as exc:
        raise ValueError(f"not a readable PDF ({type(exc).__name__}: {exc})") from None
    if not opened:
        raise ValueError("encrypted PDF that needs a password to open; decrypt it first (passwords are not taken)")
    notes: tuple[str, ...] = ("encrypted PDF with an empty user password: read",) if reader.is_encrypted else ()
    if not page_texts:
        raise ValueError("the PDF has no pages")
    blank = [number for number, text in enumerate(page_texts, start=1) if not text.strip()]
    if len(blank) == len(page_texts):
        raise ValueError(
            f"no text layer in the PDF ({len(page_texts)} page{'s' if len(page_texts) > 1 else ''} without text:"
            " a scanned document?); OCR is not done, convert it to text first"
        )
    if blank:
        notes += (f"no text layer on page{'s' if len(blank) > 1 else ''} {_page_list(blank)} of {len(page_texts)}",)
    starts, position = [], 0
    for text in page_texts:
        starts.append(position)
        position += len(text) + len(PAGE_BREAK)
    metadata: dict[str, object] = {}
    if title and (cleaned := str(title).replace("\x00", "").strip()):
        metadata["title"] = cleaned
    return Parsed(PAGE_BREAK.join(page_texts), metadata, notes, tuple(starts))


def _page_list(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:MAX_LISTED_PAGES]))
    return shown + (f" and {len(numbers) - MAX_LISTED_PAGES} more" if len(numbers) > MAX_LISTED_PAGES else "")
