"""A reviewer's decisions on a stored run, kept in SQLite beside it, and what they make: a corrected run, gold.

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

Gold (gold_lines, add_gold; "fields" suites): each reviewed document gives one gold line, one incident per
corrected record with the suite's scored keys only (free text left out, as the guidelines' gold does). A record
the reviewer accepted or added is gold as it stands. In a record edited but not accepted, the edited values are
required and the model's other values accepted but not required (a scalar [value, null], a list element
"optional", a null or empty list not scored); a record nobody decided on is an optional incident marked so too.
A rejected record gives none.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.paths import Loc, iter_path, loc_of, path_of
from llm_extract.extraction.annotate import NORMALIZERS
from llm_extract.extraction.normalize import Anchor
from llm_extract.extraction.schema_loader import SchemaSpec, load_schema
from llm_extract.runs.runline import FORMAT, RunLine, now_iso
from llm_extract.runs.store import RunStore, atomic_write, manifest_path_for, read_manifest, read_run, record_problem
from llm_extract.scoring.fields import ScoringConfig
from llm_extract.scoring.suite import Suite, load_suite

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


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run_schema(run: Path) -> SchemaSpec | None:
    """The schema the run's manifest names, when it still loads (what checks the corrected records' shape)."""
    recorded = (read_manifest(run) or {}).get("schema") or {}
    for candidate in (recorded.get("path"), recorded.get("name")):
        if candidate:
            try:
                return load_schema(candidate)
            except LLMExtractError:
                continue
    return None


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
        self.run_sha256 = file_sha256(self.run)
        self._lines = {line.doc_id: line for line in read_run(self.run).records}
        self.list_field = next((line.list_field for line in self._lines.values() if line.list_field), None)
        self.schema = _run_schema(self.run)  # renormalises edited records; None when the manifest names none
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
        found = _get_at(record, loc) if record is not None else None
        if reason is None and record is not None:
            reason = _set_at(record, loc, copy.deepcopy(decision.after))
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


def _get_at(node: Any, loc: Loc) -> Any:
    for step in loc:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and 0 <= step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, dict) else None
    return node


def _set_at(record: dict[str, Any], loc: Loc, value: Any) -> str | None:
    """Put `value` at a concrete path ('targets[0].name'), making missing or null objects on the way; a list
    element that is not there is not made. Returns why it could not, or None. (core.paths.set_path takes keys
    only, replace_path every element of a list: neither sets one element.)"""
    node: Any = record
    for depth, step in enumerate(loc):
        last = depth == len(loc) - 1
        where = path_of(loc[: depth + 1]) if isinstance(loc[0], str) else str(step)
        if isinstance(step, int):
            if not isinstance(node, list) or not 0 <= step < len(node):
                return f"{where} does not exist (the list has {len(node) if isinstance(node, list) else 0} element(s))"
            if last:
                node[step] = value
            else:
                node = node[step]
            continue
        if not isinstance(node, dict):
            return f"{where}: its parent is not an object"
        if last:
            node[step] = value
        elif node.get(step) is None and isinstance(loc[depth + 1], str):
            node[step] = {}
            node = node[step]
        else:
            node = node.get(step)
    return None


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
    schema = _run_schema(run)
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


# ---- gold from corrections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldSummary:
    """What add_gold did to a suite's gold file."""

    gold_path: Path
    added: tuple[str, ...]  # documents new to the gold, appended
    replaced: tuple[str, ...]  # documents whose gold line was replaced (replace=True)
    incidents: int  # gold incidents written

    @property
    def documents(self) -> int:
        return len(self.added) + len(self.replaced)


# A scored path as a tree: key -> (a list the rest reads element by element, the keys below it).
_Tree = dict[str, tuple[bool, "_Tree"]]


def _scored_tree(config: ScoringConfig) -> _Tree:
    """The keys the suite scores (fields, their precision paths, the role), as a tree."""
    tree: _Tree = {}
    paths = [config.role_path, *(spec.path for spec in config.fields)]
    paths += [spec.precision_path for spec in config.fields if spec.precision_path]
    for path in paths:
        node = tree
        for key, is_list in _steps(path):
            listed, below = node.setdefault(key, (is_list, {}))
            node[key] = (listed or is_list, below)
            node = below
    return tree


def _steps(path: str) -> list[tuple[str, bool]]:
    return [(part.removesuffix("[]"), part.endswith("[]")) for part in path.split(".")]


def _prune(node: Any, tree: _Tree) -> Any:
    """The record with only the scored keys (free text, evidence and unscored keys left out, as in gold)."""
    if not tree:
        return copy.deepcopy(node)
    if isinstance(node, list):
        return [_prune(item, tree) for item in node]
    if not isinstance(node, dict):
        return copy.deepcopy(node)
    return {key: _prune(node[key], tree[key][1]) for key in tree if key in node}


def _soften(node: dict[str, Any], tree: _Tree, loc: Loc, edits: list[Loc], precision: frozenset[Loc]) -> None:
    """Mark what the reviewer did not confirm as accepted but not required, in the gold format's own terms: a
    scalar becomes [value, null], a null or an empty list is left out (not scored: nobody said the article has
    none), a list element gets "optional": true (or the keys not edited, "optional": [keys]), a plain element
    {"optional": value}. A date's precision stays as it is: the scorer reads it as one value beside the date.
    What an edit reached (the path, above it or below it) stays required."""
    for key, (is_list, below) in tree.items():
        if key not in node:
            continue
        here, value = (*loc, key), node[key]
        if _edited(here, edits, below_too=False):
            continue
        if is_list and isinstance(value, list):
            if not value:
                del node[key]
            for index, element in enumerate(value):
                at = (*here, index)
                if _edited(at, edits, below_too=False):
                    continue
                if isinstance(element, dict) and below:
                    kept = [k for k in below if k in element and not _edited((*at, k), edits, below_too=True)]
                    whole = len(kept) == len([k for k in below if k in element])
                    if kept:
                        element["optional"] = True if whole else kept
                else:
                    value[index] = {"optional": element}
        elif below and isinstance(value, dict):
            _soften(value, below, here, edits, precision)
        elif _edited(here, edits, below_too=True):
            continue
        elif value is None or (below and not isinstance(value, dict)):
            del node[key]
        elif _generic(here) not in precision:
            node[key] = [value, None]


def _edited(loc: Loc, edits: list[Loc], *, below_too: bool) -> bool:
    """An edit set this value or a value above it (or, `below_too`, a value under it)."""
    return any(edit == loc[: len(edit)] or (below_too and loc == edit[: len(loc)]) for edit in edits)


def _generic(loc: Loc) -> Loc:
    return tuple(part for part in loc if isinstance(part, str))


def gold_incident(
    record: dict[str, Any], config: ScoringConfig, *, id: str, optional: bool, confirmed: bool, edits: list[Loc]
) -> dict[str, Any]:
    """One corrected record as a gold incident: its scored values (the run's, or the reviewer's where edited:
    a value picked from the text is the gold value), every one required when the reviewer `confirmed` the
    record (accepted or added it), and otherwise only those edited (_soften says how the rest is marked)."""
    gold: dict[str, Any] = {"id": id, "optional": optional, **_prune(record, _scored_tree(config))}
    if not confirmed:
        precision = frozenset(tuple(k for k, _ in _steps(s.precision_path)) for s in config.fields if s.precision_path)
        _soften(gold, _scored_tree(config), (), edits, precision)
    return gold


def _gold_line(corrected: CorrectedLine, config: ScoringConfig, run: Path) -> dict[str, Any]:
    """A reviewed document's gold line: one incident per corrected record, in the corrected order. A record
    the reviewer accepted or added is gold as it stands; one edited but not accepted is gold where edited and
    accepted-but-not-required elsewhere; one nobody decided on is an optional incident of that kind."""
    line = corrected.line
    incidents = []
    for number, (source, record) in enumerate(zip(corrected.sources, line.records, strict=True), start=1):
        confirmed = source in corrected.accepted or source in corrected.added
        decided = confirmed or source in corrected.edited
        incidents.append(
            gold_incident(
                record,
                config,
                id=f"{line.doc_id}-{number}",
                optional=not decided,
                confirmed=confirmed,
                edits=corrected.edited.get(source, []),
            )
        )
    review = line.extra(REVIEWED_KEY) or {}
    notes = f"from the review of {run.name} by {', '.join(review.get('who', []))} ({review.get('at')})"
    said = [entry["note"] for entry in review.get("notes", [])]
    return {"doc_id": line.doc_id, "incidents": incidents, "notes": "; ".join([notes, *said])}


def gold_lines(run: Path, suite: str | Path | Suite, db: Path | None = None) -> list[dict[str, Any]]:
    """The gold lines of the reviewed documents of `run` for `suite` (a "fields" suite: incident records), in
    run order; documents nobody reviewed give none."""
    loaded = suite if isinstance(suite, Suite) else load_suite(suite)
    if loaded.scoring is None:
        raise CorrectionError(
            f"suite {loaded.name} scores {loaded.profile} templates: gold from corrections is "
            "written for suites of incident records (scoring profile 'fields')"
        )
    schema = load_schema(loaded.schema).name
    out = []
    for corrected in corrected_run(run, db):
        if not corrected.reviewed:
            continue
        made_with = corrected.line.schema_ref.name if corrected.line.schema_ref else None
        if made_with is not None and made_with != schema:
            raise CorrectionError(
                f"document {corrected.line.doc_id!r}: the run's records are {made_with} records, "
                f"and suite {loaded.name}'s gold is {schema}: review a run of the suite's schema"
            )
        out.append(_gold_line(corrected, loaded.scoring, Path(run)))
    return out


def add_gold(suite: str | Path | Suite, run: Path, db: Path | None = None, *, replace: bool = False) -> GoldSummary:
    """Add the gold lines of the reviewed documents of `run` to the suite's gold file: new documents appended,
    a document already in the gold refused (nothing is written) unless `replace`, then its line replaced where
    it stands. Other lines are kept byte for byte; the file is written atomically."""
    loaded = suite if isinstance(suite, Suite) else load_suite(suite)
    lines = gold_lines(run, loaded, db)
    if not lines:
        raise CorrectionError(
            f"no document of {run} is reviewed (accepted, rejected, edited or added to): there is no gold to add"
        )
    path = loaded.gold_path
    existing = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    position = {}
    for number, text in enumerate(existing):
        if text.strip():
            try:
                position[json.loads(text)["doc_id"]] = number
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CorrectionError(f"{path}:{number + 1}: not a gold line ({exc}); fix it first") from exc
    clash = [line["doc_id"] for line in lines if line["doc_id"] in position]
    if clash and not replace:
        raise CorrectionError(f"{', '.join(clash)} already in the gold {path}; give --replace to replace them")
    added = []
    for line in lines:
        text = json.dumps(line)
        if line["doc_id"] in position:
            existing[position[line["doc_id"]]] = text
        else:
            existing.append(text)
            added.append(line["doc_id"])
    atomic_write(path, ("\n".join(existing) + "\n").encode("utf-8"))
    incidents = sum(len(line["incidents"]) for line in lines)
    return GoldSummary(path, tuple(added), tuple(clash), incidents)
