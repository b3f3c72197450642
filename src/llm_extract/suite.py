"""Eval suites: evals/<suite>/suite.toml names the documents, gold, schema, prompt, scoring and gate.

Two scoring profiles: "fields" (our incident records, field by field, configured in the suite) and
"gtt" (MUC-4-style templates scored by the published GTT metric, which has no settings).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llm_extract.errors import LLMExtractError
from llm_extract.resources import bundled_dir
from llm_extract.scoring import FieldSpec, ScoringConfig


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


def _suites_root() -> Path:
    return bundled_dir("evals")


def available_suites() -> list[str]:
    return sorted(path.parent.name for path in _suites_root().glob("*/suite.toml"))


def load_suite(name_or_path: str | Path) -> Suite:
    """A suite by name (evals/<name>/) or by path to its folder or suite.toml."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "suite.toml"
    if not path.is_file():
        path = _suites_root() / str(name_or_path) / "suite.toml"
    if not path.is_file():
        raise SuiteError(f"no eval suite '{name_or_path}'; available: {', '.join(available_suites()) or 'none'}")
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
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise SuiteError(f"{path}: malformed suite config ({type(exc).__name__}: {exc})") from exc
