"""Eval suites: <suite>/suite.toml names the documents, gold, schema, prompt, scoring and gate.

Suites are data, not package data: an installed wheel carries none. `load_suite` takes a path to a suite folder,
or a name looked up in $LLM_EXTRACT_EVALS_DIR, then the source checkout's evals/ (when llm-extract runs from
one), then ./evals/ in the current directory. Nothing but an explicit --update-baseline or --update-reference
writes into a suite folder: `eval` reports go to ./runs/eval/<suite>/ unless told --out.

Two scoring profiles: "fields" (our incident records, field by field, configured in the suite) and
"gtt" (MUC-4-style templates scored by the published GTT metric, which has no settings).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llm_extract.core.errors import LLMExtractError
from llm_extract.core.resources import checkout_root
from llm_extract.scoring.fields import FieldSpec, ScoringConfig

EVALS_ENV = "LLM_EXTRACT_EVALS_DIR"  # a folder of suites (<name>/suite.toml), searched first by name
EVAL_OUT_ROOT = Path("runs", "eval")  # `eval` writes under ./runs/eval/<suite>/ unless told --out


class SuiteError(LLMExtractError):
    """The suite folder or its files are missing or malformed."""


@dataclass(frozen=True)
class Gate:
    """A tracked metric fails when it drops more than `tolerance` below the baseline or under its threshold."""

    thresholds: dict[str, float]
    tolerance: float = 0.02


Profile = Literal["fields", "gtt"]
PROFILES: tuple[Profile, ...] = ("fields", "gtt")


@dataclass(frozen=True)
class Suite:
    name: str
    directory: Path
    schema: str
    prompt: str
    documents: Path
    gold_path: Path
    baseline_path: Path
    scoring: ScoringConfig | None  # the "fields" profile's configuration; None for "gtt"
    gate: Gate
    profile: Profile = "fields"
    clusters_path: Path | None = None  # gold clusters: which gold incidents are the same real-world event
    # The plain reference: a stored run of `reference_prompt` (a `reference = true` prompt: the plain instructor
    # call), scored beside every run of the suite on the same documents. The number the pipeline must beat.
    reference_prompt: str | None = None
    reference_path: Path | None = None
    fill: str | None = None  # the fill prompt its runs use (extraction/fill.py); `--fill none` runs without

    @property
    def default_out_dir(self) -> Path:
        """Where `eval` writes its run and report when not told --out: ./runs/eval/<suite name>/, relative to the
        current directory (never the suite folder, which may be a read-only checkout or shared data)."""
        name = self.name
        if not name or name in (".", "..") or Path(name).name != name:
            name = self.directory.name  # a name that is not one plain folder name
        return EVAL_OUT_ROOT / name

    def gold(self) -> dict[str, list[dict[str, Any]]]:
        """doc_id -> gold incidents (the "fields" profile's gold), in file order."""
        gold: dict[str, list[dict[str, Any]]] = {}
        for number, line in enumerate(self.gold_path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                gold[record["doc_id"]] = record["incidents"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise SuiteError(f"{self.gold_path}:{number}: not a gold record ({exc})") from exc
        return gold

    def gold_clusters(self) -> dict[str, str]:
        """Gold incident id -> its event's label, from the clusters file (one JSON line per event:
        {"event": label, "incidents": [gold ids]}); empty when the suite has none."""
        if self.clusters_path is None or not self.clusters_path.is_file():
            return {}
        clusters: dict[str, str] = {}
        for number, line in enumerate(self.clusters_path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{self.clusters_path}:{number}"
            try:
                record = json.loads(line)
                label, members = str(record["event"]), [str(item) for item in record["incidents"]]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise SuiteError(f'{where}: not a cluster line {{"event": ..., "incidents": [...]}} ({exc})') from exc
            if label in clusters.values():
                raise SuiteError(f"{where}: event label '{label}' is used twice: give each event its own")
            for member in members:
                if member in clusters:
                    raise SuiteError(f"{where}: gold incident {member} is already in event '{clusters[member]}'")
                clusters[member] = label
        return clusters


def suite_roots() -> list[tuple[str, Path]]:
    """The folders a suite name is looked up in, in order, each with what it is: $LLM_EXTRACT_EVALS_DIR, the
    source checkout's evals/ (when llm-extract runs from one), ./evals/ in the current directory."""
    roots: list[tuple[str, Path]] = []
    if os.environ.get(EVALS_ENV):
        roots.append((f"${EVALS_ENV}", Path(os.environ[EVALS_ENV]).expanduser()))
    checkout = checkout_root()
    if checkout is not None:
        roots.append(("the source checkout's evals/", checkout / "evals"))
    roots.append(("the current directory's evals/", Path("evals")))
    unique: list[tuple[str, Path]] = []
    for label, root in roots:
        if all(root.resolve() != seen.resolve() for _, seen in unique):
            unique.append((label, root))
    return unique


def available_suites() -> list[str]:
    """Suite names found in the lookup folders (suite_roots), each once."""
    return sorted({path.parent.name for _, root in suite_roots() for path in root.glob("*/suite.toml")})


def find_suite(name_or_path: str | Path) -> Path:
    """The suite.toml of a suite given by path (its folder or its suite.toml) or by name (suite_roots)."""
    path = Path(name_or_path)
    if path.is_dir() and (path / "suite.toml").is_file():
        return path / "suite.toml"
    if path.is_file():
        return path
    text = str(name_or_path)
    if text and path.name == text and text not in (".", ".."):  # a name, not a path
        for _, root in suite_roots():
            candidate = root / text / "suite.toml"
            if candidate.is_file():
                return candidate.resolve()
    elif path.is_dir():
        raise SuiteError(f"{path} holds no suite.toml: give the path to a suite folder (one holding suite.toml)")
    else:
        raise SuiteError(f"no eval suite at {path}: give the path to a suite folder (one holding suite.toml)")
    raise SuiteError(_not_found(text))


def _not_found(name: str) -> str:
    places = []
    for label, root in suite_roots():
        state = "" if root.is_dir() else ", which does not exist"
        places.append(f"{label} ({root.resolve()}{state})")
    available = available_suites()
    message = (
        f"no eval suite '{name}': looked for {name}/suite.toml in {'; '.join(places)}. Give the path to a suite "
        f"folder (one holding suite.toml), or set {EVALS_ENV} to the folder that holds your suites"
    )
    if checkout_root() is None:
        message += " (an installed llm-extract carries no suites: they are in evals/ of its source repository)"
    return message + (f". Available: {', '.join(available)}" if available else "")


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite by path to its folder or suite.toml, or by name (see suite_roots for where names are looked up)."""
    path = find_suite(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        scoring = dict(data["scoring"])
        profile = scoring.pop("profile", "fields")
        if profile not in PROFILES:
            raise SuiteError(f"{path}: unknown scoring profile '{profile}' (use one of: {', '.join(PROFILES)})")
        config = None
        if profile == "fields":
            fields = tuple(FieldSpec(**spec) for spec in scoring.pop("fields"))
            config = ScoringConfig(fields=fields, **scoring)
        elif scoring:
            raise SuiteError(f"{path}: the gtt profile takes no settings, got {', '.join(scoring)}")
        gate = Gate(**data.get("gate", {"thresholds": {}}))
        reference = dict(data.get("reference", {}))
        if set(reference) - {"prompt", "run"}:
            raise SuiteError(f"{path}: [reference] takes prompt and run, got {', '.join(sorted(reference))}")
        directory = path.parent
        return Suite(
            name=data.get("name", directory.name),
            directory=directory,
            schema=data["schema"],
            prompt=data["prompt"],
            documents=directory / data.get("documents", "docs"),
            gold_path=directory / data.get("gold", "gold.jsonl"),
            baseline_path=directory / data.get("baseline", "baseline.json"),
            scoring=config,
            gate=gate,
            profile=profile,
            clusters_path=directory / data["clusters"] if "clusters" in data else None,
            reference_prompt=reference.get("prompt"),
            reference_path=directory / reference["run"] if "run" in reference else None,
            fill=data.get("fill"),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise SuiteError(f"{path}: malformed suite config ({type(exc).__name__}: {exc})") from exc
