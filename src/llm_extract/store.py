"""A stored run: the output JSONL (one line per document) and its manifest beside it.

Lines are appended with one write each, then flushed and fsynced, so a kill loses at most the
documents in flight. On open, a torn last line is dropped; stale lines are removed by an atomic
rewrite before anything is appended, so a document never has two lines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_extract.errors import LLMExtractError

Record = dict[str, Any]


def now_iso() -> str:
    """The timestamp written into records and manifests (UTC, to the second)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def manifest_path_for(output: Path) -> Path:
    """out.jsonl -> out.manifest.json"""
    return output.with_name(f"{output.stem}.manifest.json")


def read_manifest(output: Path) -> dict[str, Any] | None:
    """The manifest stored beside a run's output, or None when there is none."""
    path = manifest_path_for(output)
    return json.loads(path.read_text()) if path.exists() else None


def read_records(path: Path) -> tuple[list[Record], int]:
    """All readable records of an output file, and how many lines were torn or unreadable."""
    records: list[Record] = []
    bad = 0
    if not path.exists():
        return records, bad
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                bad += 1  # a line cut short by a kill: its document is redone
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                bad += 1
                continue
            if isinstance(record, dict) and isinstance(record.get("doc_id"), str):
                records.append(record)
            else:
                bad += 1
    return records, bad


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@dataclass
class OpenedRun:
    kept: dict[str, Record]  # doc_id -> the record that stays
    dropped: int  # stale, failed or torn lines removed


class RunStore:
    """Owns one output file for the duration of a run (an exclusive lock keeps a second run out)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest_path = manifest_path_for(path)
        self._fd: int | None = None
        self._lock: int | None = None

    @contextlib.contextmanager
    def session(self, keep: Callable[[Record], bool]) -> Iterator[OpenedRun]:
        """Lock the output, drop every line `keep` rejects (and torn ones), then allow appends."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._lock = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise LLMExtractError(
                f"another llm-extract run is writing {self.path}; wait for it or choose another -o"
            ) from None
        try:
            records, bad = read_records(self.path)
            kept: dict[str, Record] = {}
            dropped = bad
            for record in records:
                if keep(record) and record["doc_id"] not in kept:
                    kept[record["doc_id"]] = record
                else:
                    dropped += 1
            if dropped:
                _atomic_write(self.path, b"".join(self._encode(record) for record in kept.values()))
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            yield OpenedRun(kept=kept, dropped=dropped)
        finally:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    @staticmethod
    def _encode(record: Record) -> bytes:
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    def append(self, record: Record) -> None:
        """Write one whole line durably before returning."""
        if self._fd is None:
            raise RuntimeError("RunStore.append outside session()")
        view = memoryview(self._encode(record))
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        _atomic_write(self.manifest_path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
