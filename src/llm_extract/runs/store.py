"""A stored run: the output JSONL (one line per document) and its manifest beside it.

Lines are appended with one write each, then flushed and fsynced, so a kill loses at most the
documents in flight. On open, a torn last line is dropped; stale lines are removed by an atomic
rewrite before anything is appended, so a document never has two lines.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.gc_pause import collector_paused
from llm_extract.extraction.schema_loader import SchemaSpec, load_schema
from llm_extract.runs.runline import STATUSES, RunLine, finite_json


def manifest_path_for(output: Path) -> Path:
    """out.jsonl -> out.manifest.json"""
    return output.with_name(f"{output.stem}.manifest.json")


def read_manifest(output: Path) -> dict[str, Any] | None:
    """The manifest stored beside a run's output, or None when there is none; a damaged one is an error."""
    path = manifest_path_for(output)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LLMExtractError(f"the manifest {path} cannot be read ({exc}); restore it or delete it") from exc
    if not isinstance(data, dict):
        raise LLMExtractError(f"the manifest {path} is not a JSON object; restore it or delete it")
    return data


def recorded_schema(output: Path) -> SchemaSpec | None:
    """The schema a stored run's manifest names (its path, else its name), when it still loads: what a reader of
    the run checks its records' shape with. None when there is no manifest, it names none, or none loads."""
    recorded = (read_manifest(output) or {}).get("schema") or {}
    for candidate in (recorded.get("path"), recorded.get("name")):
        if candidate:
            with contextlib.suppress(LLMExtractError):
                return load_schema(candidate)
    return None


@dataclass(frozen=True)
class LineProblem:
    """A run line a reader skipped, and why (a consumer reports it as file:line, never a traceback)."""

    line: int  # 1-based
    reason: str


@dataclass
class RunLines:
    """The usable lines of a stored run, typed, and the lines that were not (in file order)."""

    path: Path
    records: list[RunLine]
    problems: list[LineProblem]
    numbers: list[int]  # the line number of each record

    def numbered(self) -> list[tuple[int, RunLine]]:
        return list(zip(self.numbers, self.records, strict=True))

    def warnings(self) -> list[str]:
        """One message per skipped line, naming file:line (print them with display.shown)."""
        return [line_warning(self.path, p.line, p.reason) for p in self.problems]


def line_warning(path: Path | str, line: int, reason: str) -> str:
    """The one wording of a skipped run line: 'out.jsonl:7: no status; line skipped'."""
    return f"{path}:{line}: {reason}; line skipped"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_span(span: Any) -> bool:
    offsets = isinstance(span, dict) and all(span.get(k) is None or _is_number(span[k]) for k in ("start", "end"))
    return offsets and isinstance(span.get("path"), str) and isinstance(span.get("status"), str)


JsonSchema = dict[str, Any]


def _resolved(schema: JsonSchema, defs: JsonSchema) -> JsonSchema:
    ref = schema.get("$ref")
    return defs.get(ref.rsplit("/", 1)[-1], {}) if isinstance(ref, str) else schema


def shape_problem(value: Any, schema: JsonSchema, defs: JsonSchema, where: str) -> str | None:
    """Where `value` holds a scalar or a list in place of the object (or an object in place of the list) the
    schema puts there, or a container in place of a single value: consumers walk into those with .get() and
    indexing, or hash them. Which scalar, enums and missing keys are not checked (scoring reads them whatever
    they are); null is allowed anywhere below a record."""
    if value is None:
        return None
    schema = _resolved(schema, defs)
    options = [_resolved(option, defs) for option in schema.get("anyOf", [schema])]
    kinds = {option.get("type") for option in options} - {"null"}
    if not kinds or None in kinds:
        return None  # the schema says nothing here
    if not kinds & {"object", "array"}:
        if isinstance(value, dict | list):  # a scalar slot: which scalar is scoring's business, not a container
            return f"{where} is {'an object' if isinstance(value, dict) else 'a list'}, not a single value"
        return None
    if not kinds <= {"object", "array"}:
        return None  # a scalar may stand here too
    if isinstance(value, dict) and "object" in kinds:
        option = next(o for o in options if o.get("type") == "object")
        for key, sub in (option.get("properties") or {}).items():
            if key in value and (problem := shape_problem(value[key], sub, defs, f"{where}.{key}")):
                return problem
        return None
    if isinstance(value, list) and "array" in kinds:
        option = next(o for o in options if o.get("type") == "array")
        for index, item in enumerate(value):
            if problem := shape_problem(item, option.get("items") or {}, defs, f"{where}[{index}]"):
                return problem
        return None
    expected = " or ".join(sorted("an object" if kind == "object" else "a list" for kind in kinds))
    return f"{where} is {type(value).__name__}, not {expected}"


def record_problem(record: Any, list_field: str | None = None, shape: JsonSchema | None = None) -> str | None:
    """Why a parsed line cannot be used as a run record, or None when it can.

    Checks the shape eval, review and fuse read without guarding (a bad line raised KeyError or
    AttributeError in each of them): the id, the status, the incident list of an ok line, the numbers.
    """
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    doc_id = record.get("doc_id")
    if not isinstance(doc_id, str) or not doc_id:
        return "no doc_id" if doc_id in (None, "") else f"doc_id is {type(doc_id).__name__}, not a string"
    status = record.get("status")
    if status not in STATUSES:
        return "no status" if status is None else f"status {str(status)[:40]!r} is not one of ok, invalid, error"
    version = record.get("format", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        return f"format {str(version)[:20]!r} is not a format version (1, 2, ...)"
    if status == "ok" and list_field is not None:
        items = record.get(list_field)
        if not isinstance(items, list):
            return f"an ok line whose {list_field!r} is {type(items).__name__}, not a list"
        if not all(isinstance(item, dict) for item in items):
            return f"an ok line whose {list_field!r} holds something other than objects (e.g. null)"
        item_schema = ((shape or {}).get("properties") or {}).get(list_field, {}).get("items")
        if item_schema is not None:
            for index, item in enumerate(items):
                if problem := shape_problem(
                    item, item_schema, (shape or {}).get("$defs") or {}, f"{list_field}[{index}]"
                ):
                    return problem
    usage = record.get("usage")
    if usage is not None and not (isinstance(usage, dict) and all(_is_number(v) for v in usage.values())):
        return "usage is not an object of token counts"
    for key in ("latency_s", "attempts", "reasks", "backoff_s"):
        if key in record and record[key] is not None and not _is_number(record[key]):
            return f"{key} is {type(record[key]).__name__}, not a number"
    spans = record.get("grounding")
    if spans is not None and not (isinstance(spans, list) and all(map(_is_span, spans))):
        return "grounding is not a list of spans with a path and a status"
    for key in ("normalized", "anchor"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            return f"{key} is {type(record[key]).__name__}, not an object"
    if not all(isinstance(result, dict) for result in (record.get("normalized") or {}).values()):
        return "normalized holds something other than objects"
    return None


NO_NEWLINE = "no newline at its end"


def _parsed_lines(path: Path) -> Iterator[tuple[int, bool, Any, str | None]]:
    """(line number, parsed?, the value, a problem): the one parser of run lines. A line that parsed may still
    carry NO_NEWLINE; one that did not says why. `null` parses (to None), so parsed? tells the two apart."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                yield number, False, None, "blank line"
                continue
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
                if raw.endswith(b"\n"):
                    yield number, False, None, f"not JSON ({type(exc).__name__}: {str(exc)[:80]})"
                else:
                    yield number, False, None, "cut short (the run was stopped while writing it)"
                continue
            # A last line without its newline may be a write cut short: the runner redoes it (appending
            # after it would join two lines); a reader may use it when it parses whole.
            yield number, True, value, None if raw.endswith(b"\n") else NO_NEWLINE


def read_lines(path: Path) -> tuple[list[RunLine], int]:
    """All readable lines of an output file, and how many lines were torn or unreadable (the runner's view:
    a line with an id is kept, whatever else it holds; its document is redone unless it is finished work)."""
    lines: list[RunLine] = []
    bad = 0
    if not path.exists():
        return lines, bad
    with collector_paused():  # many small objects, no cycles (as in read_run)
        for _number, _parsed, value, problem in _parsed_lines(path):
            if problem is None and isinstance(value, dict) and isinstance(value.get("doc_id"), str):
                lines.append(RunLine.from_stored(value))
            else:
                bad += 1  # a line cut short by a kill, or unreadable: its document is redone
    return lines, bad


def read_run(path: Path, list_field: str | None = None, shape: JsonSchema | None = None) -> RunLines:
    """A stored run as eval, review and fuse read it: every usable record, and each other line with its number.

    A missing, empty or wholly unusable file is an error before anything is scored or drawn: a report of
    zeros from a mistyped path looked like a real result.
    """
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no file"
        raise LLMExtractError(
            f"no run at {path} ({what}): give the JSONL written by `llm-extract extract -o` (or by `eval`)"
        )
    records: list[RunLine] = []
    problems: list[LineProblem] = []
    numbers: list[int] = []
    lines = 0
    # The cycle collector paused: the parsed lines and their RunLines are many small objects and no cycles, and
    # its rescans of them took over half of reading a large run (10,000 lines of muc4: 4.1 s, 1.8 s paused).
    try:
        with collector_paused():
            for number, parsed, value, parse_problem in _parsed_lines(path):
                if parse_problem == "blank line":
                    continue
                lines += 1
                problem = record_problem(value, list_field, shape) if parsed else parse_problem
                if problem is None:
                    records.append(RunLine.from_stored(value, list_field))
                    numbers.append(number)
                else:
                    problems.append(LineProblem(number, problem))
    except OSError as exc:
        raise LLMExtractError(f"cannot read the run {path}: {exc.strerror or exc}") from exc
    if not lines:
        raise LLMExtractError(
            f"the run {path} is empty: no document was recorded in it; run `llm-extract extract -o {path}` first"
        )
    if not records:
        first = "; ".join(f"line {p.line}: {p.reason}" for p in problems[:3])
        raise LLMExtractError(
            f"no line of {path} is a run record ({len(problems)} unusable: {first}"
            f"{'; ...' if len(problems) > 3 else ''}): give the JSONL written by `llm-extract extract -o`"
        )
    return RunLines(path, records, problems, numbers)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename: a killed write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@dataclass
class OpenedLines:
    kept: dict[str, RunLine]  # doc_id -> the line that stays
    dropped: int  # stale, failed or torn lines removed


class OutputError(LLMExtractError):
    """The output itself cannot be written (disk full, read-only, not a file): the run stops, nothing is lost."""


def check_derived_output(output: Path, runs: list[Path], what: str, looks_ours: Callable[[bytes], bool]) -> None:
    """A file made from runs (a review page, fused events) never replaces one of those runs, their manifests,
    or an existing file this command did not write (`looks_ours` judges the file's first bytes)."""
    real = Path(os.path.realpath(output))
    for run in runs:
        source = Path(os.path.realpath(run))
        if real in (source, manifest_path_for(source)):
            raise OutputError(f"-o {output} is the run {run} or its manifest; write the {what} elsewhere")
    if not real.exists():
        return
    if not real.is_file():
        raise OutputError(f"-o {output} is not a regular file; give a path for the {what}")
    with real.open("rb") as handle:
        head = handle.read(4096)
    if head.strip() and not looks_ours(head):
        raise OutputError(f"-o {output} exists and is not a {what} written by llm-extract; choose another path")


def _is_run_line(raw: bytes) -> bool:
    try:
        return record_problem(json.loads(raw)) is None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


class RunStore:
    """Owns one output file for the duration of a run.

    The path is resolved first, so the same file reached through a symlink or another relative path has one
    lock; the lock is taken before anything is written (a second run touches nothing, not even the manifest)."""

    def __init__(self, path: Path) -> None:
        self.requested = Path(path)
        self.path = Path(os.path.realpath(path))
        self.manifest_path = manifest_path_for(self.path)
        self._fd: int | None = None
        self._lock: filelock.BaseFileLock | None = None

    def check_target(self, inputs: list[Path]) -> None:
        """Refuse an output (or the manifest beside it) that is not a regular file, that is one of the inputs or
        inside an input folder, or that has other hard links (a lock per path could not keep out a second
        writer through them)."""
        if self.path.exists() and not self.path.is_file():
            raise OutputError(f"-o {self.requested} is not a regular file; give a path for the output JSONL")
        if self.path.is_file() and self.path.stat().st_nlink > 1:
            raise OutputError(f"-o {self.requested} has other hard links; give a file of its own")
        if self.manifest_path.exists() and not self.manifest_path.is_file():
            raise OutputError(f"{self.manifest_path} (where the manifest goes) is not a regular file")
        for given in inputs:
            real = Path(os.path.realpath(given))
            for target, what in ((self.path, f"-o {self.requested}"), (self.manifest_path, "its manifest")):
                if real == target or (real.is_dir() and target.is_relative_to(real)):
                    where = "is" if real == target else "is inside"
                    raise OutputError(f"{what} {where} the input {given}; write the output elsewhere")

    def previous_run(self) -> tuple[bool, dict[str, Any] | None]:
        """(holds lines, the manifest beside it). Refuses a file that is not an llm-extract run."""
        try:
            manifest = read_manifest(self.path)
        except LLMExtractError:
            manifest = {}  # unreadable as a manifest: not ours
        ours = manifest is not None and (manifest.get("tool") or {}).get("name") == "llm-extract"
        if manifest is not None and not ours:
            raise OutputError(f"{self.manifest_path} exists and is not an llm-extract manifest; it would be "
                              "overwritten: move it, or choose another -o")  # fmt: skip
        try:
            with self.path.open("rb") as handle:
                first = next((raw for raw in handle if raw.strip()), b"")
        except FileNotFoundError:
            return False, manifest
        if not first:
            return False, manifest
        torn_first_line = not first.endswith(b"\n")  # a run killed while writing its first line
        if not (_is_run_line(first) or (torn_first_line and ours)):
            raise OutputError(
                f"-o {self.requested} exists and is not an llm-extract run (its first line is not a run record); "
                "choose another output file"
            )
        return True, manifest

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the output's lock (one per real path); clean up temporary files a killed run left behind.

        filelock rather than fcntl: the OS's own lock (flock on POSIX, msvcrt on Windows, which the OS drops when
        a run is killed), and `import llm_extract` works where there is no fcntl."""
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        lock = filelock.FileLock(lock_path, timeout=0)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except filelock.Timeout:
            raise LLMExtractError(
                f"another llm-extract run is writing {self.path}; wait for it or choose another -o"
            ) from None
        except OSError as exc:
            reason = exc.strerror or exc
            raise OutputError(f"cannot write beside {self.requested} ({lock_path.name}): {reason}") from exc
        self._lock = lock
        try:
            for prefix in (self.path.name, self.manifest_path.name):
                for orphan in self.path.parent.glob(f".{glob.escape(prefix)}.*.tmp"):
                    orphan.unlink(missing_ok=True)  # only a killed run's rewrite leaves one; we hold the lock
            yield
        finally:
            self._lock = None
            lock.release()

    @contextlib.contextmanager
    def open_lines(self, keep: Callable[[RunLine], bool]) -> Iterator[OpenedLines]:
        """Drop every line `keep` rejects (and torn ones), then allow appends. Takes the lock unless held.
        Kept lines are rewritten as they were stored (their format too)."""
        with contextlib.ExitStack() as stack:
            if self._lock is None:
                stack.enter_context(self.locked())
            lines, bad = read_lines(self.path)
            kept: dict[str, RunLine] = {}
            dropped = bad
            for line in lines:
                if keep(line) and line.doc_id not in kept:
                    kept[line.doc_id] = line
                else:
                    dropped += 1
            try:
                if dropped:
                    atomic_write(self.path, b"".join(line.to_json() + b"\n" for line in kept.values()))
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot write {self.requested}: {exc.strerror or exc}") from exc
            try:
                yield OpenedLines(kept=kept, dropped=dropped)
            finally:
                os.close(self._fd)
                self._fd = None

    def append(self, line: RunLine) -> None:
        """Write one whole line durably before returning; OutputError when the output cannot take it."""
        if self._fd is None:
            raise RuntimeError("RunStore.append outside open_lines()")
        view = memoryview(line.to_json() + b"\n")
        try:
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            raise OutputError(f"cannot write {self.requested}: {exc.strerror or exc}") from exc

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(json.loads(finite_json(manifest)), indent=2, ensure_ascii=True) + "\n"
        try:
            atomic_write(self.manifest_path, text.encode("ascii"))
        except OSError as exc:
            raise OutputError(f"cannot write the manifest {self.manifest_path}: {exc.strerror or exc}") from exc
