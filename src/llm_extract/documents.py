"""Input documents from .txt/.md files, folders and JSONL, each either a Document or an InputFailure.

Nothing is dropped: every file, line or path the user names comes out as one of the two, and a failure
names the document and says why, so the batch can go on and the run can account for it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = {".txt", ".md"}
JSONL_SUFFIXES = {".jsonl"}
_CONTROL = {chr(c) for c in range(32)} - {"\t", "\n", "\r", "\f"}


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    origin: str  # where it came from: a path, or path:line for JSONL
    published: str | None = None  # ISO date of publication, when known
    url: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class InputFailure:
    id: str
    origin: str
    reason: str


Input = Document | InputFailure


def decode_text(data: bytes) -> str:
    """Decode article bytes: UTF-8 (BOM allowed), else Windows-1252/Latin-1 text; binary data is refused."""
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        raise ValueError(f"not UTF-8 text ({utf8_error.reason} at byte {utf8_error.start})") from None
    if any(ch in _CONTROL for ch in text):
        raise ValueError(f"not UTF-8 text ({utf8_error.reason} at byte {utf8_error.start})")
    return text


def _iso_date(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"'published' must be an ISO date string, got {value!r}")
    try:
        return dt.date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise ValueError(f"'published' is not an ISO date (YYYY-MM-DD...): {value!r}") from None


def _text_document(path: Path, doc_id: str) -> Input:
    try:
        text = decode_text(path.read_bytes())
    except OSError as exc:
        return InputFailure(doc_id, str(path), f"cannot read file: {exc.strerror or exc}")
    except ValueError as exc:
        return InputFailure(doc_id, str(path), str(exc))
    if not text.strip():
        return InputFailure(doc_id, str(path), "empty document (no text)")
    return Document(id=doc_id, text=text, origin=str(path))


# Benchmark files name these fields differently (MUC-4 in GTT's form: docid, doctext); the first present wins.
ID_KEYS = ("id", "doc_id", "docid")
TEXT_KEYS = ("text", "doctext")


def _first_key(record: dict[str, object], keys: tuple[str, ...]) -> object:
    return next((record[key] for key in keys if key in record), None)


def _jsonl_documents(path: Path) -> Iterator[Input]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield InputFailure(str(path), str(path), f"cannot read file: {exc.strerror or exc}")
        return
    for number, raw in enumerate(data.splitlines(), start=1):
        origin = f"{path}:{number}"
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield InputFailure(origin, origin, f"line is not valid JSON: {exc}")
            continue
        if not isinstance(record, dict):
            yield InputFailure(origin, origin, "line is not a JSON object")
            continue
        raw_id = _first_key(record, ID_KEYS)
        if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id).strip() == "":
            yield InputFailure(origin, origin, "missing 'id' (a non-empty string or integer)")
            continue
        doc_id = str(raw_id)
        text = _first_key(record, TEXT_KEYS)
        if not isinstance(text, str):
            yield InputFailure(doc_id, origin, "missing 'text' (a string)")
            continue
        if not text.strip():
            yield InputFailure(doc_id, origin, "empty document (no text)")
            continue
        try:
            published = _iso_date(record.get("published"))
        except ValueError as exc:
            yield InputFailure(doc_id, origin, str(exc))
            continue
        yield Document(
            id=doc_id, text=text, origin=origin, published=published, url=record.get("url"), source=record.get("source")
        )


def _file_inputs(path: Path, doc_id: str) -> Iterator[Input]:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        yield from _jsonl_documents(path)
    elif suffix in TEXT_SUFFIXES:
        yield _text_document(path, doc_id)
    else:
        yield InputFailure(doc_id, str(path), f"unsupported file type '{suffix}' (use .txt, .md or .jsonl)")


def _path_inputs(path: Path) -> Iterator[Input]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            relative = child.relative_to(path)
            if any(part.startswith(".") for part in relative.parts) or child.is_dir():
                continue
            yield from _file_inputs(child, relative.with_suffix("").as_posix())
    elif path.is_file():
        yield from _file_inputs(path, path.stem)
    else:
        yield InputFailure(str(path), str(path), "no such file or folder")


def iter_inputs(paths: Iterable[Path]) -> Iterator[Input]:
    """Every document named by `paths`, in order; a repeated id becomes a failure naming the first."""
    first_seen: dict[str, str] = {}
    for path in paths:
        for item in _path_inputs(Path(path)):
            if item.id in first_seen:
                # The failure gets an id of its own, so the first document's line is never shadowed.
                reason = f"duplicate id '{item.id}' (first at {first_seen[item.id]})"
                yield InputFailure(f"{item.id}@{item.origin}", item.origin, reason)
                continue
            first_seen[item.id] = item.origin
            yield item
