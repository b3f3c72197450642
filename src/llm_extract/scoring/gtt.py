"""The GTT template-filling metric for MUC-4-style templates (Du, Rush and Cardie 2021).

Reproduces the metric behind the published MUC-4 numbers (GTT, IterX), rule for rule:
- strings are normalised: lower case, punctuation removed, articles (a, an, the) removed, spaces squashed;
- a template is `{incident_type, PerpInd, PerpOrg, Target, Victim, Weapon}`; each role is a list of
  entities and each entity a list of acceptable mentions;
- a predicted entity is correct when all its mentions are mentions of one gold entity of the paired
  template (a prediction usually carries one mention); a gold entity is found when some predicted entity
  matches it, and counts once however many do;
- the incident type is one more slot: one correct filler per paired template;
- per document, predicted templates are paired one-to-one with gold templates, or left unpaired, so as
  to maximise the document's micro-F1; a pair counts only when the predicted type occurs in the gold type
  string ("attack / bombing" accepts either); the first best pairing in the reference's enumeration
  order wins ties, so per-role counts agree with the reference too;
- an unpaired predicted template adds all its fillers to the precision denominator (spurious), an
  unpaired gold template all its fillers to the recall denominator (missed);
- counts are summed over documents, then precision, recall and F1 are computed (micro average); a ratio over
  nothing is 0 here, as in the reference (REFERENCE_EMPTY), where `core.metrics` reads it as 1.0.

As in the reference, precision credits every predicted entity that matches some gold entity, and
another system's predictions are scored exactly as given; our own records go through
`templates_from_records`, which merges a filler repeated within a role, so we never gain by repeating one.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_extract.core.constants import MUC_ROLES
from llm_extract.core.errors import LLMExtractError
from llm_extract.core.metrics import f1_score, ratio, rounded
from llm_extract.core.text import squash_spaces

ROLES = MUC_ROLES
SLOTS = ("incident_type", *ROLES)
UNPAIRED = -1
REFERENCE_EMPTY = 0.0  # the reference reads 0/0 as 0, not as core.metrics' 1.0: its published numbers depend on it
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)
_MUC_ID = re.compile(r"^TST(\d)-MUC\d-(\d{4})$")


class TemplateFormatError(LLMExtractError):
    """A prediction or gold file is not in a template format this scorer reads."""


Entity = tuple[str, ...]  # acceptable mentions, normalised
KeepEntity = Callable[[Entity, list[Entity]], bool]  # (entity, those kept so far) -> keep it?


@dataclass(frozen=True)
class Template:
    incident_type: str
    roles: Mapping[str, tuple[Entity, ...]]


def normalise(text: str) -> str:
    """The reference normalisation: lower, drop punctuation, drop articles, squash whitespace."""
    lowered = text.lower()
    no_punctuation = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    return squash_spaces(_ARTICLES.sub(" ", no_punctuation))


def doc_key(doc_id: str) -> str:
    """One id per document whichever form a file uses: 'TST3-MUC4-0012' and GTT's '30012' are the same."""
    found = _MUC_ID.match(doc_id.strip())
    return str(int(found[1]) * 10000 + int(found[2])) if found else doc_id.strip()


def _mention(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and value and isinstance(value[0], str):
        return value[0]  # GTT's processed files carry [mention, character offset] pairs
    raise TemplateFormatError(f"a mention must be a string or [string, offset], got {value!r}")


def _entity(value: Any) -> Entity:
    """An entity: a list of mentions, or a bare string (one mention), as our own records store fillers."""
    mentions = [value] if isinstance(value, str) else value
    if not isinstance(mentions, list | tuple):
        raise TemplateFormatError(f"an entity must be a list of mentions or a string, got {value!r}")
    return tuple(normalise(_mention(m)) for m in mentions)


def _roles(raw: Mapping[str, Any], keep_entity: KeepEntity) -> dict[str, tuple[Entity, ...]]:
    roles: dict[str, tuple[Entity, ...]] = {}
    for role in ROLES:
        value = raw.get(role) or []
        if not isinstance(value, list):
            raise TemplateFormatError(f"role {role} must be a list of entities, got {value!r}")
        entities: list[Entity] = []
        for item in value:
            entity = _entity(item)
            if keep_entity(entity, entities):
                entities.append(entity)
        roles[role] = tuple(entities)
    return roles


def _template(raw: Mapping[str, Any], keep_entity: KeepEntity) -> Template:
    if not isinstance(raw, Mapping):
        raise TemplateFormatError(f"a template must be a JSON object, got {raw!r}")
    incident_type = raw.get("incident_type")
    # The reference treats a non-string type as "attack".
    return Template(incident_type if isinstance(incident_type, str) else "attack", _roles(raw, keep_entity))


def parse_gold(raw: Iterable[Mapping[str, Any]]) -> list[Template]:
    """Gold templates as the reference loads them: entities without mentions dropped, identical templates once."""
    templates: list[Template] = []
    for item in raw:
        template = _template(item, lambda entity, _seen: bool(entity))
        if template not in templates:
            templates.append(template)
    return templates


def parse_predictions(raw: Iterable[Mapping[str, Any]]) -> list[Template]:
    """Another system's predicted templates, taken exactly as given (the reference cleans nothing)."""
    return [_template(item, lambda _entity, _seen: True) for item in raw]


def templates_from_records(raw: Iterable[Mapping[str, Any]]) -> list[Template]:
    """Our own records (each filler a string): a filler repeated within a role, once normalised, counts once."""
    return [_template(item, lambda entity, seen: bool(entity) and entity not in seen) for item in raw]


@dataclass
class SlotCounts:
    """Precision and recall counted apart: a correct prediction and a found gold entity are different events."""

    p_num: int = 0
    p_den: int = 0
    r_num: int = 0
    r_den: int = 0

    def add(self, other: SlotCounts) -> None:
        self.p_num += other.p_num
        self.p_den += other.p_den
        self.r_num += other.r_num
        self.r_den += other.r_den

    @property
    def precision(self) -> float:
        return ratio(self.p_num, self.p_den, REFERENCE_EMPTY)

    @property
    def recall(self) -> float:
        return ratio(self.r_num, self.r_den, REFERENCE_EMPTY)

    @property
    def f1(self) -> float:
        return f1_score(self.precision, self.recall)

    def as_dict(self) -> dict[str, Any]:
        return {
            **rounded(self.precision, self.recall, self.f1),
            "p_num": self.p_num, "p_den": self.p_den, "r_num": self.r_num, "r_den": self.r_den,
        }  # fmt: skip


def _entity_matches(gold: Entity, pred: Entity) -> bool:
    return all(mention in gold for mention in pred)


def types_agree(pred_type: str, gold_type: str) -> bool:
    """The reference's test: the predicted type occurs in the gold type ("attack / bombing" takes either)."""
    return pred_type in gold_type


def pair_counts(pred: Template, gold: Template) -> dict[str, SlotCounts]:
    """Numerators for one pairing (the denominators do not depend on the pairing)."""
    counts = {slot: SlotCounts() for slot in SLOTS}
    if not types_agree(pred.incident_type, gold.incident_type):
        return counts
    counts["incident_type"].p_num = counts["incident_type"].r_num = 1
    for role in ROLES:
        gold_entities, pred_entities = gold.roles[role], pred.roles[role]
        counts[role].p_num = sum(any(_entity_matches(g, p) for g in gold_entities) for p in pred_entities)
        counts[role].r_num = sum(any(_entity_matches(g, p) for p in pred_entities) for g in gold_entities)
    return counts


def _numerators(cell: Mapping[str, SlotCounts]) -> tuple[int, int]:
    return sum(c.p_num for c in cell.values()), sum(c.r_num for c in cell.values())


def _denominators(preds: Sequence[Template], golds: Sequence[Template]) -> dict[str, SlotCounts]:
    counts = {slot: SlotCounts() for slot in SLOTS}
    counts["incident_type"].p_den, counts["incident_type"].r_den = len(preds), len(golds)
    for role in ROLES:
        counts[role].p_den = sum(len(t.roles[role]) for t in preds)
        counts[role].r_den = sum(len(t.roles[role]) for t in golds)
    return counts


@dataclass
class DocumentResult:
    doc_id: str
    preds: Sequence[Template]
    golds: Sequence[Template]
    pairing: list[int]  # for each predicted template, the gold index it is paired with, or -1
    counts: dict[str, SlotCounts]
    micro: SlotCounts
    paired: list[tuple[int, int]]  # pairs whose types agree (they score)


def score_document(doc_id: str, preds: Sequence[Template], golds: Sequence[Template]) -> DocumentResult:
    """The pairing that maximises this document's micro-F1, found exactly.

    Pairings are visited in the reference's order (each prediction takes gold 0, 1, ... then none) and
    only a strictly better one replaces the best so far; a branch is cut when even its best completion
    could not beat the best, so the first best pairing is still the one chosen, in a fraction of the time.
    """
    denominators = _denominators(preds, golds)
    p_den = sum(c.p_den for c in denominators.values())
    r_den = sum(c.r_den for c in denominators.values())
    table = [[pair_counts(p, g) for g in golds] for p in preds]
    gains = [[_numerators(cell) for cell in row] for row in table]
    best_p_after = [0] * (len(preds) + 1)
    best_r_after = [0] * (len(preds) + 1)
    for i in range(len(preds) - 1, -1, -1):
        best_p_after[i] = best_p_after[i + 1] + max((gain[0] for gain in gains[i]), default=0)
        best_r_after[i] = best_r_after[i + 1] + max((gain[1] for gain in gains[i]), default=0)

    def doc_f1(p_num: int, r_num: int) -> float:
        return f1_score(ratio(p_num, p_den, REFERENCE_EMPTY), ratio(r_num, r_den, REFERENCE_EMPTY))

    best_f1 = -1.0
    best_pairing: list[int] = [UNPAIRED] * len(preds)
    pairing: list[int] = []
    used: set[int] = set()

    def visit(i: int, p_num: int, r_num: int) -> None:
        nonlocal best_f1, best_pairing
        if i == len(preds):
            value = doc_f1(p_num, r_num)
            if value > best_f1:
                best_f1, best_pairing = value, list(pairing)
            return
        if best_f1 >= 0 and doc_f1(p_num + best_p_after[i], r_num + best_r_after[i]) <= best_f1:
            return
        for j in [*range(len(golds)), UNPAIRED]:
            if j != UNPAIRED and j in used:
                continue
            gain_p, gain_r = gains[i][j] if j != UNPAIRED else (0, 0)
            pairing.append(j)
            if j != UNPAIRED:
                used.add(j)
            visit(i + 1, p_num + gain_p, r_num + gain_r)
            pairing.pop()
            used.discard(j)

    visit(0, 0, 0)
    counts = denominators
    paired: list[tuple[int, int]] = []
    for i, j in enumerate(best_pairing):
        if j != UNPAIRED and types_agree(preds[i].incident_type, golds[j].incident_type):
            paired.append((i, j))
            for slot, cell in table[i][j].items():
                counts[slot].p_num += cell.p_num
                counts[slot].r_num += cell.r_num
    micro = SlotCounts()
    for cell in counts.values():
        micro.add(cell)
    return DocumentResult(doc_id, preds, golds, best_pairing, counts, micro, paired)


@dataclass
class CorpusResult:
    documents: list[DocumentResult]
    counts: dict[str, SlotCounts]
    micro: SlotCounts
    missing: list[str]  # gold documents the predictions say nothing about (scored as predicting nothing)


def score_corpus(predictions: Mapping[str, Sequence[Template]], gold: Mapping[str, Sequence[Template]]) -> CorpusResult:
    """Score every gold document; predictions for documents outside the gold are ignored."""
    keyed = {doc_key(doc_id): templates for doc_id, templates in predictions.items()}
    documents: list[DocumentResult] = []
    missing: list[str] = []
    counts = {slot: SlotCounts() for slot in SLOTS}
    for doc_id, gold_templates in gold.items():
        key = doc_key(doc_id)
        if key not in keyed:
            missing.append(doc_id)
        result = score_document(doc_id, keyed.get(key, []), gold_templates)
        documents.append(result)
        for slot, cell in result.counts.items():
            counts[slot].add(cell)
    micro = SlotCounts()
    for cell in counts.values():
        micro.add(cell)
    return CorpusResult(documents, counts, micro, missing)


def _read_json_or_jsonl(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TemplateFormatError(f"{path}:{number}: neither JSON nor JSON Lines ({exc.msg})") from exc
    return rows


def _row_id(row: Mapping[str, Any], path: Path) -> str:
    doc_id = row.get("doc_id", row.get("docid", row.get("id")))
    if not isinstance(doc_id, str | int):
        raise TemplateFormatError(f"{path}: a row has no doc_id (or docid, id)")
    return str(doc_id)


def load_gold(path: Path) -> dict[str, list[Template]]:
    """Gold as JSON Lines of {doc_id | docid, templates}: our suite files and GTT's processed files alike."""
    data = _read_json_or_jsonl(path)
    rows = data if isinstance(data, list) else [data]
    try:
        return {_row_id(row, path): parse_gold(row["templates"]) for row in rows}
    except (KeyError, TypeError) as exc:
        raise TemplateFormatError(f"{path}: not a gold template file ({type(exc).__name__}: {exc})") from exc


def load_prediction_json(path: Path) -> dict[str, list[Template]] | None:
    """Predictions stored as one JSON object, or None when the file is JSON Lines (an llm-extract run).

    Two shapes: the benchmark's {doc_id: [template, ...]}, and a published system's output file
    {doc_id: {"pred_templates": [...], ...}} (as GTT's preds_*.out).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateFormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError:
        return None  # JSON Lines
    if isinstance(data, dict) and "doc_id" in data and isinstance(data.get("status"), str):
        return None  # a one-document run: a single JSON Lines record
    if not isinstance(data, dict):
        raise TemplateFormatError(f"{path}: expected a JSON object {{doc_id: [template, ...]}}")
    try:
        return {
            str(doc_id): parse_predictions(value["pred_templates"] if isinstance(value, dict) else value)
            for doc_id, value in data.items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise TemplateFormatError(f"{path}: not a template prediction file ({type(exc).__name__}: {exc})") from exc


def _checked(
    template: Template,
    other: Template | None,
    matches: Callable[[Entity, Entity], bool],
    keys: tuple[str, str],
) -> list[dict[str, Any]]:
    """Each entity of `template`, role by role, with whether it matches an entity of `other` in that role."""
    entity_key, verdict_key = keys
    return [
        {"role": role, entity_key: list(entity), verdict_key: other is not None
         and any(matches(entity, candidate) for candidate in other.roles[role])}
        for role in ROLES
        for entity in template.roles[role]
    ]  # fmt: skip


def explain(result: DocumentResult) -> dict[str, Any]:
    """A document's scoring laid out for people: each pair's fillers marked right or wrong, and what was missed."""
    preds, golds = result.preds, result.golds

    def judged(pred: Template, gold: Template | None) -> list[dict[str, Any]]:
        return _checked(pred, gold, lambda mine, theirs: _entity_matches(theirs, mine), ("pred", "correct"))

    def found(gold: Template, pred: Template | None) -> list[dict[str, Any]]:
        return _checked(gold, pred, _entity_matches, ("gold", "found"))

    paired_preds = {i for i, _ in result.paired}
    paired_golds = {j for _, j in result.paired}
    return {
        "doc_id": result.doc_id,
        "micro": result.micro.as_dict(),
        "pairs": [
            {
                "pred_index": i, "gold_index": j, "incident_type": [preds[i].incident_type, golds[j].incident_type],
                "predicted": judged(preds[i], golds[j]), "gold": found(golds[j], preds[i]),
            }
            for i, j in result.paired
        ],
        "spurious": [
            {"pred_index": i, "incident_type": t.incident_type, "predicted": judged(t, None)}
            for i, t in enumerate(preds) if i not in paired_preds
        ],
        "missed": [
            {"gold_index": j, "incident_type": t.incident_type, "gold": found(t, None)}
            for j, t in enumerate(golds) if j not in paired_golds
        ],
    }  # fmt: skip
