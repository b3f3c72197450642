"""A reviewer's decisions on a stored run, kept in SQLite beside it, and the corrected run they make (gold from
them: review/gold.py).

The run file is never written. Each decision (accept, reject, edit, add, note) is one row of the `decisions`
table, with who made it, when, the value before and after, and the article offsets of a value picked by
selecting text; nothing is updated or deleted, so the history is the table. The `meta` table pins the run the
decisions were made on (its path and sha256 at the first decision): a store opened with another run, or with
the run changed since, is refused, because record indexes and paths would point at other records.

Why SQLite: the workbench server writes from several threads (and a CLI may read at the same time); WAL mode
and a busy timeout let them, where a JSON file would need a lock of its own and lose writes on a crash.

Rules (api17.md): the latest decision per (document, record, path) wins; "reject" removes the record from the
corrected line; "accept" marks it reviewed as it is; "add" appends a record (its index counts on from the run's
records: a line with 3 records gets 3, 4, ...); "note" changes nothing but is kept. A document is reviewed when it
has any accept, reject, edit or add decision. An edit whose record or path does not exist is reported as not
applied, never dropped silently.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.paths import Loc, get_at, iter_path, loc_of, path_of, set_at
from llm_extract.extraction.annotate import NORMALIZERS
from llm_extract.extraction.normalize import Anchor
from llm_extract.extraction.schema_loader import SchemaSpec
from llm_extract.providers.local_model import sha256_of
from llm_extract.runs.runline import FORMAT, RunLine, now_iso
from llm_extract.runs.store import (
    RunStore,
    atomic_write,
    manifest_path_for,
    read_manifest,
    read_run,
    record_problem,
    recorded_schema,
)

Action = Literal["accept", "reject", "edit", "add", "note"]
ACTIONS: tuple[Action, ...] = get_args(Action)
REVIEWING: frozenset[str] = frozenset({"accept", "reject", "edit", "add"})  # what makes a document reviewed
REVIEWED_KEY = "reviewed"  # the key a corrected line carries: what the review changed (unknown to older readers)
BUSY_TIMEOUT_S = 10.0  # how long a write waits for another writer (the server's threads) before failing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    record_index INTEGER,
    action TEXT NOT NULL CHECK (action IN ('accept', 'reject', 'edit', 'add', 'note')),
    path TEXT,
    before_json TEXT,
    after_json TEXT,
    start INTEGER,
    "end" INTEGER,
    who TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT
);
CREATE INDEX IF NOT EXISTS decisions_doc ON decisions (doc_id, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = 'id, doc_id, record_index, action, path, before_json, after_json, start, "end", who, at, note'


class CorrectionError(LLMExtractError):
    """A decision that cannot be stored, a store that does not belong to the run, or output that cannot be
    written: the message names the document, the file or the flag."""


@dataclass(frozen=True)
class Decision:
    """One stored decision (a row of the decisions table)."""

    id: int
    doc_id: str
    record_index: int | None  # the record in the run line (None: a document-level note; for "add", the new index)
    action: Action
    path: str | None  # field path inside the record ("location.town", "perpetrators[0].name"); edit only
    before: Any  # JSON value before (edit), None otherwise
    after: Any  # JSON value after (edit: the value; add: the whole new record)
    start: int | None  # article offsets when the value was picked by selecting text
    end: int | None
    who: str
    at: str  # ISO 8601 UTC
    note: str | None

    @classmethod
    def _of_row(cls, row: tuple[Any, ...]) -> Decision:
        id_, doc_id, index, action, path, before, after, start, end, who, at, note = row
        return cls(id_, doc_id, index, action, path, _loads(before), _loads(after), start, end, who, at, note)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Change:
    """What one winning decision did to a line: applied, or why not."""

    decision: int
    action: Action
    record_index: int | None
    path: str | None
    before: Any  # the value found before it was applied (edit)
    after: Any
    applied: bool
    reason: str | None = None  # why it was not applied

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision, "action": self.action, "record": self.record_index}
        if self.path is not None:
            out |= {"path": self.path, "before": self.before, "after": self.after}
        elif self.action == "add":
            out["after"] = self.after
        out["applied"] = self.applied
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class CorrectedLine:
    """A run line with its decisions applied; `line` is the original when there are none."""

    line: RunLine
    changes: list[Change]
    reviewed: bool
    sources: list[int] = field(default_factory=list)  # each corrected record's index in the run line (or add's)
    accepted: frozenset[int] = frozenset()  # record indexes the reviewer accepted as they stand
    added: frozenset[int] = frozenset()
    edited: dict[int, list[Loc]] = field(default_factory=dict)  # record index -> the paths the reviewer set

    @property
    def not_applied(self) -> list[Change]:
        return [change for change in self.changes if not change.applied]


def store_beside(run: Path) -> Path:
    """RUN.jsonl -> RUN.review.sqlite (where the workbench keeps the decisions on RUN by default)."""
    return run.with_name(f"{run.stem}.review.sqlite")


class CorrectionStore:
    """Decisions on one run, in SQLite beside it (RUN.jsonl -> RUN.review.sqlite); the run file is never written.

    One connection per call, so one store serves any number of threads; the database is in WAL mode and a
    writer waits up to BUSY_TIMEOUT_S for another."""

    def __init__(self, db: Path, run: Path) -> None:
        self.db, self.run = Path(db), Path(run)
        if not self.run.is_file():
            raise CorrectionError(f"no run at {self.run}: give the JSONL written by `llm-extract extract -o`")
        real_db = os.path.realpath(self.db)
        if real_db in (os.path.realpath(self.run), os.path.realpath(manifest_path_for(self.run))):
            raise CorrectionError(f"--db {self.db} is the run {self.run} or its manifest; keep corrections elsewhere")
        self.run_sha256 = sha256_of(self.run)
        self._lines = {line.doc_id: line for line in read_run(self.run).records}
        self.list_field = next((line.list_field for line in self._lines.values() if line.list_field), None)
        self.schema = recorded_schema(self.run)  # renormalises edited records; None when the manifest names none
        try:
            with self._connection() as connection:
                connection.execute("PRAGMA journal_mode=WAL")
                tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if tables and "decisions" not in tables:
                    raise CorrectionError(
                        f"{self.db} is an SQLite database of something else (tables: {', '.join(sorted(tables))}); "
                        "give a new file for the corrections"
                    )
                connection.executescript(_SCHEMA)
                self._check_run(connection)
        except sqlite3.DatabaseError as exc:
            raise CorrectionError(f"{self.db} cannot be used as a corrections database: {exc}") from exc

    @classmethod
    def beside(cls, run: Path) -> CorrectionStore:
        """The store at store_beside(run) (made on first use)."""
        return cls(store_beside(Path(run)), Path(run))

    def _connection(self) -> sqlite3.Connection:
        """A connection in autocommit mode (transactions are explicit): close it after use."""
        self.db.parent.mkdir(parents=True, exist_ok=True)
        return _Closing(self.db, timeout=BUSY_TIMEOUT_S, isolation_level=None)

    def _check_run(self, connection: sqlite3.Connection) -> None:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        pinned = meta.get("run_sha256")
        if pinned is not None and pinned != self.run_sha256:
            raise CorrectionError(
                f"{self.db} holds decisions on another run: {meta.get('run_path')} with sha256 {pinned[:12]}..., "
                f"and {self.run} has sha256 {self.run_sha256[:12]}... (another run, or the run changed since); "
                "open the corrections with the run they were made on, or give another --db"
            )

    # ---- writing -----------------------------------------------------------------------------------

    def add(
        self,
        *,
        doc_id: str,
        action: Action,
        who: str,
        record_index: int | None = None,
        path: str | None = None,
        before: Any = None,
        after: Any = None,
        start: int | None = None,
        end: int | None = None,
        note: str | None = None,
    ) -> Decision:
        """Store one decision and return it with its id and time; a decision that could not be applied to any
        line (unknown document, action, record or path syntax; an add without a record) is refused here."""
        line = self._lines.get(doc_id)
        where = f"document {doc_id!r}"
        if line is None:
            raise CorrectionError(f"{where}: not in the run {self.run}")
        if action not in ACTIONS:
            raise CorrectionError(f"{where}: unknown action {action!r} (use one of: {', '.join(ACTIONS)})")
        if not isinstance(who, str) or not who.strip():
            raise CorrectionError(f"{where}: a decision needs who made it (--who)")
        _check_decision(where, len(line.records), action, record_index, path, after, start, end, note)
        before_json, after_json = _dumps(where, before), _dumps(where, after)
        at = now_iso()
        with self._connection() as connection:
            connection.execute("BEGIN IMMEDIATE")  # the write lock first: the meta check and the insert are one
            try:
                self._check_run(connection)
                pin = [("run_path", str(self.run)), ("run_sha256", self.run_sha256), ("pinned_at", at)]
                connection.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", pin)
                if action == "add" and record_index is None:
                    record_index = self._next_index(connection, doc_id, len(line.records))
                elif action in ("edit", "accept", "reject") and record_index is not None:
                    self._check_index(connection, where, doc_id, record_index, len(line.records))
                cursor = connection.execute(
                    f"INSERT INTO decisions ({_COLUMNS.removeprefix('id, ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (doc_id, record_index, action, path, before_json, after_json, start, end, who, at, note),
                )
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        assert cursor.lastrowid is not None
        return Decision(
            cursor.lastrowid,
            doc_id,
            record_index,
            action,
            path,
            _loads(before_json),
            _loads(after_json),
            start,
            end,
            who,
            at,
            note,
        )

    @staticmethod
    def _next_index(connection: sqlite3.Connection, doc_id: str, records: int) -> int:
        row = connection.execute(
            "SELECT MAX(record_index) FROM decisions WHERE doc_id = ? AND action = 'add'", (doc_id,)
        ).fetchone()
        return max(records, (row[0] if row[0] is not None else -1) + 1)

    @staticmethod
    def _check_index(connection: sqlite3.Connection, where: str, doc_id: str, index: int, records: int) -> None:
        if index < records:
            return
        added = connection.execute(
            "SELECT 1 FROM decisions WHERE doc_id = ? AND action = 'add' AND record_index = ?", (doc_id, index)
        ).fetchone()
        if added is None:
            raise CorrectionError(
                f"{where}: no record {index} (the line has {records} record(s), and no record was added as {index})"
            )

    # ---- reading -----------------------------------------------------------------------------------

    def decisions(self, doc_id: str | None = None) -> list[Decision]:
        """Every decision (of one document), oldest first."""
        query = f"SELECT {_COLUMNS} FROM decisions"
        args: tuple[str, ...] = ()
        if doc_id is not None:
            query, args = f"{query} WHERE doc_id = ?", (doc_id,)
        with self._connection() as connection:
            rows = connection.execute(f"{query} ORDER BY id", args).fetchall()
        return [Decision._of_row(row) for row in rows]

    def reviewed_ids(self) -> set[str]:
        """The documents with an accept, reject, edit or add decision."""
        with self._connection() as connection:
            rows = connection.execute("SELECT DISTINCT doc_id FROM decisions WHERE action != 'note'").fetchall()
        return {row[0] for row in rows}

    def lines(self) -> list[RunLine]:
        """The run's lines, in file order (as read when the store was opened)."""
        return list(self._lines.values())

    def corrected(self, line: RunLine) -> CorrectedLine:
        """The line with its document's decisions applied (see apply_decisions)."""
        return apply_decisions(line, self.decisions(line.doc_id), self.list_field, self.schema)


class _Closing(sqlite3.Connection):
    """A connection that closes at the end of its `with` block (sqlite3's own only ends a transaction)."""

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False


def _check_decision(
    where: str,
    records: int,
    action: Action,
    index: int | None,
    path: str | None,
    after: Any,
    start: int | None,
    end: int | None,
    note: str | None,
) -> None:
    """Refuse a decision whose parts do not fit its action (what apply_decisions could not read)."""
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
        raise CorrectionError(f"{where}: record_index {index!r} is not a record number (0, 1, ...)")
    if action in ("accept", "reject", "edit") and index is None:
        raise CorrectionError(f"{where}: {action} needs the record's index")
    if action == "add" and index is not None and index < records:
        raise CorrectionError(f"{where}: an added record's index counts on from the line's {records} record(s)")
    if (action == "edit") != (path is not None):
        raise CorrectionError(f"{where}: {'an edit needs' if action == 'edit' else f'{action} takes no'} field path")
    if path is not None:
        try:
            loc = loc_of(path)
        except ValueError:
            loc = ()
        if not loc or not isinstance(loc[0], str) or path_of(loc) != path or "" in loc:
            raise CorrectionError(f"{where}: {path!r} is not a field path like 'location.town' or 'targets[0].name'")
    if action == "add" and not isinstance(after, dict):
        raise CorrectionError(f"{where}: an added record is a JSON object, not {type(after).__name__}")
    if action == "note" and not (note or "").strip():
        raise CorrectionError(f"{where}: a note needs its text")
    if (start is None) != (end is None):
        raise CorrectionError(f"{where}: give both offsets of the selected text, or neither")
    if start is not None and end is not None:
        numbers = all(isinstance(n, int) and not isinstance(n, bool) for n in (start, end))
        if not numbers or not 0 <= start <= end:
            raise CorrectionError(f"{where}: the selection {start!r}-{end!r} is not a range of article offsets")


def _dumps(where: str, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CorrectionError(f"{where}: the value is not JSON ({exc})") from exc


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# ---- applying decisions ----------------------------------------------------------------------------


def latest(decisions: list[Decision]) -> list[Decision]:
    """The decisions that win: the latest per (record, path) for edits and adds, per record for accept and
    reject (the latest of the two); notes all stay. In id order."""
    winners: dict[tuple[Any, ...], Decision] = {}
    notes = []
    for decision in decisions:
        if decision.action == "note":
            notes.append(decision)
            continue
        kind = "verdict" if decision.action in ("accept", "reject") else decision.action
        winners[(decision.doc_id, decision.record_index, kind, decision.path)] = decision
    return sorted([*winners.values(), *notes], key=lambda decision: decision.id)


def apply_decisions(
    line: RunLine, decisions: list[Decision], list_field: str | None = None, schema: SchemaSpec | None = None
) -> CorrectedLine:
    """The line with `decisions` (its document's) applied, built through RunLine.from_stored from the stored
    object with the records replaced, a `reviewed` entry saying what changed, and the line's annotations
    (grounding, ungrounded, normalized) kept only where they still describe a record as it stands: renumbered
    past a rejected record, dropped under an edited path. A line without decisions is returned as it is."""
    if not decisions:
        return CorrectedLine(line, [], False, list(range(len(line.records))))
    records: dict[int, dict[str, Any]] = dict(enumerate(copy.deepcopy(line.records)))
    rejected: set[int] = set()
    accepted: set[int] = set()
    added: set[int] = set()
    edited: dict[int, list[Loc]] = {}
    picked: list[tuple[int, str, Decision]] = []  # edits with the article offsets of the selected value
    changes: list[Change] = []
    winners = latest(decisions)
    for decision in winners:  # verdicts and adds first: an edit of an added or rejected record needs them
        index = decision.record_index
        if decision.action == "add" and index is not None:
            records[index] = copy.deepcopy(decision.after)
            added.add(index)
            changes.append(Change(decision.id, "add", index, None, None, decision.after, True))
        elif decision.action in ("accept", "reject") and index is not None:
            if index not in records:
                changes.append(Change(decision.id, decision.action, index, None, None, None, False, "no such record"))
                continue
            (rejected if decision.action == "reject" else accepted).add(index)
            changes.append(Change(decision.id, decision.action, index, None, None, None, True))
    for decision in winners:
        if decision.action != "edit" or decision.record_index is None or decision.path is None:
            continue
        index, path = decision.record_index, decision.path
        record = records.get(index)
        reason = "no such record" if record is None else "the record is rejected" if index in rejected else None
        loc = loc_of(path)
        found = get_at(record, loc) if record is not None else None
        if reason is None and record is not None:
            reason = set_at(record, loc, copy.deepcopy(decision.after))
        changes.append(Change(decision.id, "edit", index, path, found, decision.after, reason is None, reason))
        if reason is None:
            edited.setdefault(index, []).append(loc)
            if decision.start is not None and isinstance(decision.after, str):
                picked.append((index, path, decision))
    changes.sort(key=lambda change: change.decision)
    sources = sorted(index for index in records if index not in rejected)
    reviewed = any(decision.action in REVIEWING for decision in decisions)
    field_name = line.list_field or list_field
    if field_name is None:
        raise CorrectionError(f"document {line.doc_id!r}: the run's records key is unknown (no line has records)")
    stored = line.to_dict()
    if reviewed:
        stored[field_name] = [records[index] for index in sources]
        if line.status != "ok" and added:  # the reviewer supplied the records the model failed to give
            stored.update(status="ok", error_kind=None, error=None)
        _renumber(stored, field_name, {old: new for new, old in enumerate(sources)}, edited)
        _ground_picked(stored, field_name, sources, picked)
        if schema is not None:
            _renormalise(stored, field_name, sources, set(edited) | added, schema)
    stored[REVIEWED_KEY] = _reviewed_entry(line, decisions, changes, sources, reviewed)
    corrected = RunLine.from_stored(stored, field_name)
    return CorrectedLine(
        corrected, changes, reviewed, sources, frozenset(accepted - rejected), frozenset(added), edited
    )


def _reviewed_entry(
    line: RunLine, decisions: list[Decision], changes: list[Change], sources: list[int], reviewed: bool
) -> dict[str, Any]:
    """What a corrected line says of its review: who and when, each record's source, every change (applied or
    not, with the value before), the notes, and the status the run gave when the review changed it."""
    entry: dict[str, Any] = {
        "decisions": len(decisions),
        "who": sorted({decision.who for decision in decisions}),
        "at": max(decision.at for decision in decisions),
        "records": sources if reviewed else None,
        "changes": [change.as_dict() for change in changes],
        "notes": [
            {"record": d.record_index, "who": d.who, "at": d.at, "note": d.note}
            for d in decisions
            if d.action == "note"
        ],
    }
    if reviewed and line.status != "ok" and any(change.action == "add" for change in changes):
        entry["status"] = line.status
    return entry


def _overlaps(a: Loc, b: Loc) -> bool:
    """One path lies under the other (or they are the same): an edit of either changes the other's value."""
    size = min(len(a), len(b))
    return a[:size] == b[:size]


def _renumber(stored: dict[str, Any], list_field: str, new_index: dict[int, int], edited: dict[int, list[Loc]]) -> None:
    """The annotations' record paths moved to the corrected numbering; those of a rejected record, and those
    under (or over) an edited path, dropped: they described a value the reviewer replaced."""

    def moved(path: str) -> str | None:
        try:
            loc = loc_of(path)
        except ValueError:
            return path
        if len(loc) < 2 or loc[0] != list_field or not isinstance(loc[1], int):
            return path
        index, rest = loc[1], loc[2:]
        if index not in new_index or any(_overlaps(rest, e) for e in edited.get(index, [])):
            return None
        return path_of((list_field, new_index[index], *rest))

    spans = stored.get("grounding")
    if isinstance(spans, list):
        kept = []
        for span in spans:
            path = moved(span["path"]) if isinstance(span, dict) and isinstance(span.get("path"), str) else None
            if path is not None:
                kept.append({**span, "path": path})
        stored["grounding"] = kept
    if isinstance(stored.get("ungrounded"), list):
        stored["ungrounded"] = [p for p in map(moved, stored["ungrounded"]) if isinstance(p, str)]
    if isinstance(stored.get("normalized"), dict):
        normalized = ((moved(key), value) for key, value in stored["normalized"].items())
        stored["normalized"] = {key: value for key, value in normalized if key is not None}


def _renormalise(
    stored: dict[str, Any], list_field: str, sources: list[int], changed: set[int], schema: SchemaSpec
) -> None:
    """The normalised values (country and place, date, casualties) of the records the reviewer edited or added,
    made again from their values as annotate makes them (the line's anchor resolves relative dates), so that
    export's columns follow the correction rather than going blank."""
    if not isinstance(stored.get("normalized"), dict):
        return  # a line stored before normalisation: left as it was
    anchor = _anchor(stored.get("anchor"))
    for position, source in enumerate(sources):
        if source not in changed:
            continue
        for path, kind in schema.normalized_fields:
            for concrete, node in iter_path(stored[list_field][position], path, f"{list_field}[{position}]"):
                stored["normalized"][concrete] = NORMALIZERS[kind](node, anchor)


def _anchor(value: Any) -> Anchor | None:
    if not isinstance(value, dict) or not isinstance(value.get("date"), str):
        return None
    try:
        return Anchor(
            dt.date.fromisoformat(value["date"]),
            value["source"],
            value.get("text"),
            value.get("start"),
            value.get("end"),
        )
    except (KeyError, ValueError):
        return None


def _ground_picked(
    stored: dict[str, Any], list_field: str, sources: list[int], picked: list[tuple[int, str, Decision]]
) -> None:
    """A value the reviewer picked by selecting article text is grounded there: a span with the selection's
    offsets ("exact": the value is those characters), so the review page highlights it as any other."""
    if not isinstance(stored.get("grounding"), list):
        return  # a line stored before grounding existed stays ungrounded (the review page grounds it from text)
    position = {old: new for new, old in enumerate(sources)}
    for index, path, decision in picked:
        if index in position:
            concrete = path_of((list_field, position[index], *loc_of(path)))
            stored["grounding"].append(
                {
                    "path": concrete,
                    "quote": decision.after,
                    "status": "exact",
                    "start": decision.start,
                    "end": decision.end,
                    "score": 100.0,
                }
            )


# ---- the corrected run ------------------------------------------------------------------------------


def open_store(run: Path, db: Path | None = None) -> CorrectionStore:
    """The store of decisions on `run` (`db`, else beside the run), which must exist: reading corrections never
    makes an empty database."""
    run = Path(run)
    db = store_beside(run) if db is None else Path(db)
    if not db.is_file():
        raise CorrectionError(
            f"no corrections at {db}: review the run first (llm-extract review {run} --serve), or give --db"
        )
    return CorrectionStore(db, run)


def corrected_run(run: Path, db: Path | None = None) -> list[CorrectedLine]:
    """Every line of `run` with its decisions applied, in file order (lines without decisions as they are)."""
    store = open_store(run, db)
    return [store.corrected(line) for line in store.lines()]


def write_corrected_run(run: Path, dest: Path, db: Path | None = None, *, overwrite: bool = False) -> Path:
    """Write the corrected run to `dest` (JSONL, every line of the run, reviewed ones corrected), and beside it a
    manifest: the run's own, with a `corrected` entry naming the run, its sha256 and the corrections. Readers
    (eval, review, export) take it as any run. Refuses to replace the run, its manifest or the corrections, and
    any existing file unless `overwrite`; a corrected record the run's schema could not read is an error naming
    its document. Both files are written atomically."""
    run, dest = Path(run), Path(dest)
    db = store_beside(run) if db is None else Path(db)
    manifest = manifest_path_for(dest)
    protected = {os.path.realpath(p) for p in (run, manifest_path_for(run), db)}
    if {os.path.realpath(dest), os.path.realpath(manifest)} & protected:
        raise CorrectionError(f"--to {dest} would replace the run {run}, its manifest or its corrections {db}")
    for existing in (dest, manifest):
        if existing.exists() and not overwrite:
            raise CorrectionError(f"{existing} exists; give --force to replace it")
        if existing.exists() and not existing.is_file():
            raise CorrectionError(f"{existing} is not a regular file; give a file path for the corrected run")
    store = open_store(run, db)
    lines = [store.corrected(line) for line in store.lines()]
    schema = recorded_schema(run)
    for corrected in lines:
        line = corrected.line
        problem = record_problem(line.to_dict(), line.list_field, schema.json_schema if schema else None)
        if problem is not None:
            raise CorrectionError(
                f"document {line.doc_id!r}: the corrected line is not a run record ({problem}); "
                "correct the decision that made it"
            )
    source = read_manifest(run) or {"tool": {"name": "llm-extract"}}
    entry = {
        "from": str(run),
        "run_sha256": store.run_sha256,
        "corrections": str(db),
        "at": now_iso(),
        "decisions": len(store.decisions()),
        "reviewed_documents": sum(c.reviewed for c in lines),
        "line_format": FORMAT,
    }
    target = RunStore(dest)
    with target.locked():
        atomic_write(target.path, b"".join(corrected.line.to_json() + b"\n" for corrected in lines))
        target.write_manifest({**source, "corrected": entry})
    return dest
