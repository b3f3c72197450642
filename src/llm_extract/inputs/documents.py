"""Input documents from files, folders and lists of articles, each either a Document or an InputFailure.

Nothing is dropped: every file, line, row or path the user names comes out as one of the two, and a failure
names the document and says why, so the batch can go on and the run can account for it. Whatever was
repaired on the way in (a legacy encoding on some lines, a UTF-16 BOM, lone surrogates) is said in
`Document.notes`, so a record never silently rests on a guess.

The formats, by suffix (case-insensitive):
- .txt, .md: one article, decoded as below. YAML front matter at the top (`---` lines) gives its published,
  url, source and title (metadata.py) and is not part of the text the model sees.
- .html, .htm: one article, the page's main text without menus and share bars; title, publication date and
  url from the page's metadata when it has them (html.py).
- .pdf: one article or report, the text layer page by page; `Document.pages` maps offsets to pages; a scan
  without text, or a PDF that needs a password, is a failure (pdf.py).
- .jsonl: one article per line: id (or doc_id, docid), text (or doctext), published, url, source, title.
- .csv, .tsv, .xlsx: one article per row, columns id, text, published, url, source, title, renamed with
  `columns` (tables.py); `path:row` is the origin, the header being row 1.
- a folder: every file in it and its subfolders, sorted, hidden ones (a dot in the path) skipped; ids are
  the relative path without suffix.
For .txt, .md, .html, .htm and .pdf, a sidecar `<name>.meta.json` beside the file (a JSON object with
published, url, source, title) gives or overrides its metadata; in a folder it is read with its article,
not as one. `published` must be an ISO date (YYYY-MM-DD, a time after it ignored): any other value is a
failure naming the document, never a guess.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import datetime as dt
import json
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import charset_normalizer

from llm_extract.inputs.html import read_html
from llm_extract.inputs.metadata import (
    SIDECAR_SUFFIX,
    Parsed,
    front_matter,
    is_sidecar,
    sidecar_metadata,
    sidecar_path,
)
from llm_extract.inputs.pdf import read_pdf
from llm_extract.inputs.tables import Row, check_columns, csv_rows, xlsx_rows

TEXT_SUFFIXES = {".txt", ".md"}
HTML_SUFFIXES = {".html", ".htm"}
PDF_SUFFIXES = {".pdf"}
JSONL_SUFFIXES = {".jsonl"}
TABLE_SUFFIXES = {".csv", ".tsv", ".xlsx"}
ARTICLE_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES  # one article per file; these take a sidecar
SUPPORTED = ".txt, .md, .html, .htm, .pdf, .jsonl, .csv, .tsv or .xlsx"
_CONTROL = {chr(c) for c in range(32)} - {"\t", "\n", "\r", "\f"}


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    origin: str  # where it came from: a path, or path:line for JSONL
    published: str | None = None  # ISO date of publication, when known
    url: str | None = None
    source: str | None = None
    notes: tuple[str, ...] = ()  # what was repaired while reading it (encodings, surrogates); empty when nothing
    title: str | None = None
    pages: tuple[int, ...] = ()  # for a paged format (PDF): the offset in `text` where each page starts

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) holding the character at `offset`; None for a document without pages."""
        if not self.pages or offset < 0:
            return None
        return bisect.bisect_right(self.pages, offset)


@dataclass(frozen=True)
class InputFailure:
    id: str
    origin: str
    reason: str


Input = Document | InputFailure


# Longest first: the UTF-32 LE BOM begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
_SURROGATE = re.compile("[\ud800-\udfff]")
MIN_DETECT_BYTES = 32  # below this charset detection is a coin toss (it reads 16 junk bytes as Shift-JIS)
MAX_LISTED_LINES = 10


def decode_text(data: bytes) -> str:
    """Decode article bytes (see decode_with_notes); binary data and undecodable bytes are refused."""
    return decode_with_notes(data)[0]


def decode_with_notes(data: bytes) -> tuple[str, tuple[str, ...]]:
    """The text and what decoding it took. UTF-16/32 need their BOM (checked before the NUL test, which they
    would fail). A file that is not UTF-8 as a whole is decoded line by line: a copy-paste of legacy text into
    a UTF-8 file would otherwise turn every UTF-8 line into mojibake (`BogotÃ¡`) under a whole-file guess."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise ValueError(f"not valid {name} text despite its BOM ({exc.reason} at byte {exc.start})") from None
            return text, (f"{name} (BOM)",)
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError as exc:
        utf8_error = exc
    refusal = f"not UTF-8 text ({utf8_error.reason} at byte {utf8_error.start})"
    lines = data.split(b"\n")
    legacy = [number for number, line in enumerate(lines) if not _is_utf8(line, first=number == 0)]
    encoding = _legacy_encoding(b"\n".join(lines[number] for number in legacy))
    pieces: list[str] = []
    legacy_set, used = set(legacy), dict[str, list[int]]()
    for number, line in enumerate(lines):
        if number not in legacy_set:
            pieces.append(line.decode("utf-8-sig" if number == 0 else "utf-8"))
            continue
        try:
            piece, how = decode_legacy_line(line, encoding)
        except UnicodeDecodeError:
            raise ValueError(refusal) from None
        if any(ch in _CONTROL for ch in piece):
            raise ValueError(refusal)
        pieces.append(piece)
        used.setdefault(how, []).append(number)
    notes = tuple(_decoding_note(how, _line_list(numbers)) for how, numbers in used.items())
    return "\n".join(pieces), notes


def _is_utf8(line: bytes, first: bool) -> bool:
    try:
        line.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _legacy_encoding(sample: bytes) -> str:
    """Windows-1252 (the usual legacy encoding of news text, and what a detector cannot tell from cp1250 on a
    few Spanish or French lines) unless the detector is sure of another, e.g. Cyrillic cp1251."""
    if len(sample) < MIN_DETECT_BYTES:
        return "cp1252"
    # Lines that are not UTF-8 are not UTF-16/32 either (no BOM, no NUL bytes): a "utf_16_be" guess is noise.
    matches = [match for match in charset_normalizer.from_bytes(sample) if not match.encoding.startswith("utf")]
    if not matches:
        return "cp1252"
    best = min(match.chaos for match in matches)
    if any("cp1252" in match.could_be_from_charset and match.chaos <= best + 0.05 for match in matches):
        return "cp1252"
    chosen = matches[0]
    return chosen.encoding if chosen.chaos < 0.1 else "cp1252"


MIXED_LINE = "UTF-8 with its invalid bytes as cp1252"
# A valid UTF-8 multi-byte sequence: a line holding one beside invalid bytes mixes UTF-8 and a legacy encoding.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _legacy_byte(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: an invalid byte inside UTF-8 text read as Windows-1252 (Latin-1 where cp1252 has
    no character), so `Café ... Bogotá` with é in UTF-8 and á in cp1252 keeps both."""
    assert isinstance(error, UnicodeDecodeError)
    byte = error.object[error.start : error.start + 1]
    try:
        return byte.decode("cp1252"), error.start + 1
    except UnicodeDecodeError:
        return byte.decode("latin-1"), error.start + 1


codecs.register_error("llm_extract_legacy_byte", _legacy_byte)


def decode_legacy_line(line: bytes, encoding: str) -> tuple[str, str]:
    """A line that is not UTF-8: (its text, the encoding used). A line that also holds UTF-8 sequences keeps
    them and reads only its invalid bytes as cp1252; any other is decoded as `encoding` entirely."""
    if _UTF8_SEQUENCE.search(line):
        return line.decode("utf-8", errors="llm_extract_legacy_byte"), MIXED_LINE
    return line.decode(encoding), encoding


def _decoding_note(how: str, lines: str = "") -> str:
    where = f": {lines}" if lines else ""
    return f"decoded as {how}{where}" if how == MIXED_LINE else f"decoded as {how}{where} (not UTF-8)"


def _line_list(numbers: list[int]) -> str:
    shown = ", ".join(str(number + 1) for number in numbers[:MAX_LISTED_LINES])
    more = f" and {len(numbers) - MAX_LISTED_LINES} more" if len(numbers) > MAX_LISTED_LINES else ""
    return f"line{'s' if len(numbers) > 1 else ''} {shown}{more}"


def replace_surrogates(text: str) -> tuple[str, int]:
    """Lone surrogates (a JSON `\\ud800` escape, a mangled file name) cannot be written as UTF-8: each becomes
    U+FFFD, so the text can be stored and sent, and the count is reported."""
    return _SURROGATE.subn("\ufffd", text)


def _surrogate_note(count: int, where: str = "") -> tuple[str, ...]:
    if not count:
        return ()
    return (f"{count} lone surrogate{'s' if count > 1 else ''}{where} replaced with U+FFFD",)


def _iso_date(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):  # YAML front matter reads `date: 2023-10-18` as a date (or datetime)
        return value.isoformat()[:10]
    if not isinstance(value, str):
        raise ValueError(f"'published' must be an ISO date string, got {value!r}")
    try:
        return dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise ValueError(f"'published' is not an ISO date (YYYY-MM-DD...): {value!r}") from None


_NOT_REGULAR = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


class NotRegularFile(OSError):
    """A FIFO, socket or device: reading one can block forever (a FIFO with no writer) or never end."""


def _kind(mode: int) -> str:
    return next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")


def read_regular(path: Path) -> bytes:
    """The file's bytes, never opening anything but a regular file: stat first (opening a device can act on
    it), then open without blocking and check the opened file again (it may have been swapped meanwhile)."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(f"not a regular file ({_kind(mode)})")
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"not a regular file ({_kind(mode)})")
        return handle.read()


def _read_failure(exc: OSError) -> str:
    if isinstance(exc, NotRegularFile):
        return str(exc)
    return f"cannot read file: {exc.strerror or exc}"


def _read_text(data: bytes) -> Parsed:
    return front_matter(*decode_with_notes(data))


_ARTICLE_READERS: dict[str, Callable[[bytes], Parsed]] = {
    **dict.fromkeys(TEXT_SUFFIXES, _read_text),
    **dict.fromkeys(HTML_SUFFIXES, read_html),
    **dict.fromkeys(PDF_SUFFIXES, read_pdf),
}


def _article_document(path: Path, doc_id: str) -> Input:
    """A one-article file, its metadata from the file itself (front matter, the page's or the PDF's own) and
    then from its sidecar, which wins: it is what the user wrote down about the article."""
    origin = _safe_path(path)
    try:
        parsed = _ARTICLE_READERS[path.suffix.lower()](read_regular(path))
        sidecar, sidecar_notes = _sidecar(path)
        notes = [*parsed.notes, *sidecar_notes]
        metadata = _metadata(parsed.metadata | sidecar, notes)
    except OSError as exc:
        return InputFailure(doc_id, origin, _read_failure(exc))
    except ValueError as exc:
        return InputFailure(doc_id, origin, str(exc))
    if not parsed.text.strip():
        return InputFailure(doc_id, origin, "empty document (no text)")
    return Document(id=doc_id, text=parsed.text, origin=origin, notes=tuple(notes), pages=parsed.pages, **metadata)


def _sidecar(path: Path) -> tuple[dict[str, object], tuple[str, ...]]:
    """The metadata in the article's `<name>.meta.json`, if it has one; a ValueError naming it when it is bad."""
    side = sidecar_path(path)
    if not os.path.lexists(side):
        return {}, ()
    try:
        data = read_regular(side)
    except OSError as exc:
        raise ValueError(f"{_safe_path(side.name)}: {_read_failure(exc)}") from None
    return sidecar_metadata(data, _safe_path(side.name))


class _Metadata(TypedDict):
    published: str | None
    url: str | None
    source: str | None
    title: str | None


def _metadata(record: Mapping[str, object], notes: list[str]) -> _Metadata:
    """The Document's metadata fields from a record (JSONL line, table row, front matter, sidecar): the date
    checked (a ValueError when it is not one), a non-text url, source or title ignored with a note."""
    return _Metadata(
        published=_iso_date(record.get("published")),
        url=_optional_text(record, "url", notes),
        source=_optional_text(record, "source", notes),
        title=_optional_text(record, "title", notes),
    )


def _safe_path(path: Path | str) -> str:
    """A path as text that can be written out: undecodable bytes in a file name (surrogate escapes) are shown as
    `\\xff` escapes rather than crashing the UTF-8 output."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


# Benchmark files name these fields differently (MUC-4 in GTT's form: docid, doctext); the first present wins.
ID_KEYS = ("id", "doc_id", "docid")
TEXT_KEYS = ("text", "doctext")


def _first_key(record: Mapping[str, object], keys: tuple[str, ...]) -> object:
    return next((record[key] for key in keys if key in record), None)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes | str]]:
    data = read_regular(path)
    for bom, codec, _name in _BOMS:
        if data.startswith(bom):  # UTF-16/32 JSONL: split the decoded text, not the bytes
            lines: list[bytes] | list[str] = data[len(bom) :].decode(codec, "replace").splitlines()
            break
    else:
        lines = data.splitlines()
    yield from enumerate(lines, start=1)


def _optional_text(record: Mapping[str, object], key: str, notes: list[str]) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return None if value is None else replace_surrogates(value)[0]
    notes.append(f"'{key}' is not a string: ignored")
    return None


def _jsonl_documents(path: Path) -> Iterator[Input]:
    where = _safe_path(path)
    try:
        lines = list(_jsonl_lines(path))
    except OSError as exc:
        yield InputFailure(where, where, _read_failure(exc))
        return
    for number, raw in lines:
        origin = f"{where}:{number}"
        if not raw.strip():
            continue
        line_notes: list[str] = []
        if isinstance(raw, bytes) and not _is_utf8(raw, first=number == 1):
            encoding = _legacy_encoding(raw)  # one legacy line in a UTF-8 file: decoded as in a .txt file
            with contextlib.suppress(UnicodeDecodeError):
                raw, how = decode_legacy_line(raw, encoding)
                line_notes = [_decoding_note(how)]
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, an integer too long, deep nesting
            yield InputFailure(origin, origin, f"line is not valid JSON: {exc}")
            continue
        if not isinstance(record, dict):
            yield InputFailure(origin, origin, "line is not a JSON object")
            continue
        yield record_document(record, origin, line_notes)


def record_document(record: Mapping[str, object], origin: str, notes: list[str]) -> Input:
    """One article from a JSONL line or a table row: an id and a text are required, the rest is metadata."""
    raw_id = _first_key(record, ID_KEYS)
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id).strip() == "":
        return InputFailure(origin, origin, "missing 'id' (a non-empty string or integer)")
    doc_id, id_surrogates = replace_surrogates(str(raw_id))
    notes = [*notes, *_surrogate_note(id_surrogates, " in the id")]
    text = _first_key(record, TEXT_KEYS)
    if not isinstance(text, str):
        return InputFailure(doc_id, origin, "missing 'text' (a string)")
    text, text_surrogates = replace_surrogates(text)
    notes += _surrogate_note(text_surrogates)
    if not text.strip():
        return InputFailure(doc_id, origin, "empty document (no text)")
    try:
        metadata = _metadata(record, notes)
    except ValueError as exc:
        return InputFailure(doc_id, origin, str(exc))
    return Document(id=doc_id, text=text, origin=origin, notes=tuple(notes), **metadata)


def _table_documents(path: Path, columns: Mapping[str, str] | None) -> Iterator[Input]:
    """One document per row; a file that cannot be read as a table is one failure naming it."""
    where = _safe_path(path)
    suffix = path.suffix.lower()
    try:
        data = read_regular(path)
        notes: tuple[str, ...] = ()
        if suffix == ".xlsx":
            rows = xlsx_rows(data, columns)
        else:
            text, notes = decode_with_notes(data)
            rows = csv_rows(text, suffix, columns)
    except OSError as exc:
        yield InputFailure(where, where, _read_failure(exc))
        return
    except ValueError as exc:
        yield InputFailure(where, where, str(exc))
        return
    for row in rows:
        yield _row_document(row, path, where, notes)


def _row_document(row: Row, path: Path, where: str, notes: tuple[str, ...]) -> Input:
    record: dict[str, object] = dict(row.fields)
    if "id" not in record:  # a table without an id column: its rows are named by file and row
        record["id"] = f"{_safe_path(path.stem)}:{row.where}"
    return record_document(record, f"{where}:{row.where}", list(notes))


def _file_inputs(path: Path, doc_id: str, columns: Mapping[str, str] | None) -> Iterator[Input]:
    suffix = path.suffix.lower()
    if is_sidecar(path):
        reason = f"a metadata sidecar without its article beside it (one of {_article_names(path)})"
        yield InputFailure(doc_id, _safe_path(path), reason)
    elif suffix in JSONL_SUFFIXES:
        yield from _jsonl_documents(path)
    elif suffix in TABLE_SUFFIXES:
        yield from _table_documents(path, columns)
    elif suffix in ARTICLE_SUFFIXES:
        yield _article_document(path, doc_id)
    else:
        yield InputFailure(doc_id, _safe_path(path), f"unsupported file type '{suffix}' (use {SUPPORTED})")


def _article_paths(sidecar: Path) -> list[Path]:
    stem = sidecar.name[: -len(SIDECAR_SUFFIX)]
    return [sidecar.with_name(stem + suffix) for suffix in sorted(ARTICLE_SUFFIXES)]


def _article_names(sidecar: Path) -> str:
    return ", ".join(_safe_path(path.name) for path in _article_paths(sidecar))


def _has_article(sidecar: Path) -> bool:
    """Whether a sidecar has its article beside it (then it is read with the article, not as an input)."""
    return any(_mode(path) is not None for path in _article_paths(sidecar))


def _mode(path: Path) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def _path_inputs(path: Path, columns: Mapping[str, str] | None) -> Iterator[Input]:
    """Never opens a FIFO, socket or device (a FIFO without a writer would hang the run): those are failures."""
    mode = _mode(path)
    if mode is not None and stat.S_ISDIR(mode):
        for child in sorted(path.rglob("*")):
            relative = child.relative_to(path)
            child_mode = _mode(child)
            hidden = any(part.startswith(".") for part in relative.parts)
            if hidden or (child_mode is not None and stat.S_ISDIR(child_mode)):
                continue
            if is_sidecar(child) and _has_article(child):
                continue
            doc_id = _safe_path(relative.with_suffix("").as_posix())
            if child_mode is not None and not stat.S_ISREG(child_mode):
                yield InputFailure(doc_id, _safe_path(child), f"not a regular file ({_kind(child_mode)})")
                continue
            yield from _file_inputs(child, doc_id, columns)
    elif mode is not None and stat.S_ISREG(mode):
        yield from _file_inputs(path, _safe_path(path.stem), columns)
    elif mode is not None:
        yield InputFailure(_safe_path(path), _safe_path(path), f"not a regular file ({_kind(mode)})")
    else:
        yield InputFailure(_safe_path(path), _safe_path(path), "no such file or folder")


def iter_inputs(paths: Iterable[Path], columns: Mapping[str, str] | None = None) -> Iterator[Input]:
    """Every document named by `paths`, in order; a repeated id becomes a failure naming the first. `columns`
    maps fields to a table's column names ({"text": "body"}); an unknown field is a ConfigError, raised here."""
    columns = check_columns(columns) if columns is not None else None
    return _inputs(paths, columns)


def _inputs(paths: Iterable[Path], columns: Mapping[str, str] | None) -> Iterator[Input]:
    first_seen: dict[str, str] = {}
    for path in paths:
        for item in _path_inputs(Path(path), columns):
            if item.id in first_seen:
                # The failure gets an id of its own, so the first document's line is never shadowed.
                reason = f"duplicate id '{item.id}' (first at {first_seen[item.id]})"
                yield InputFailure(f"{item.id}@{item.origin}", item.origin, reason)
                continue
            first_seen[item.id] = item.origin
            yield item
