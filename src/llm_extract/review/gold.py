"""Gold from a review: the corrected records of a run's reviewed documents written as a suite's gold lines.

Why a module of its own: the decision store (corrections.py) applies decisions to a run; turning what it makes
into gold is a second job, with the suite's scoring config as its input and the gold file as its output.

Gold (gold_lines, add_gold; "fields" suites): each reviewed document gives one gold line, one incident per
corrected record with the suite's scored keys only (free text left out, as the guidelines' gold does). A record
the reviewer accepted or added is gold as it stands. In a record edited but not accepted, the edited values are
required and the model's other values accepted but not required (a scalar [value, null], a list element
"optional", a null or empty list not scored); a record nobody decided on is an optional incident marked so too.
A rejected record gives none.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_extract.core.paths import Loc, parse_path
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.review.corrections import REVIEWED_KEY, CorrectedLine, CorrectionError, corrected_run
from llm_extract.runs.store import atomic_write
from llm_extract.scoring.fields import ScoringConfig
from llm_extract.scoring.suite import Suite, load_suite


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
        for key, is_list in parse_path(path):
            listed, below = node.setdefault(key, (is_list, {}))
            node[key] = (listed or is_list, below)
            node = below
    return tree


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
        precision = frozenset(
            tuple(k for k, _ in parse_path(s.precision_path)) for s in config.fields if s.precision_path
        )
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
