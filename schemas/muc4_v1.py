"""MUC-4 incident templates, version 1: the benchmark's own slots, so output scores as it stands.

The MUC-4 evaluation (1992) asked for one template per terrorist incident a text reports, in the nine
Latin American countries it covered. The template-filling view used since GTT (Du et al. 2021) keeps
the incident type and five role slots, each a list of entities; an entity is scored by its text, so
every filler is a span copied from the document. Field names are the benchmark's (PerpInd, ...), and a
stored record is already in the format the GTT scorer reads.

Same design rules as incident_v1: every field required, every list and string bounded, the type a
closed enum. When a validation context carries the document text (`{"source_text": ...}`), every filler
must occur in it, so an invented or paraphrased filler is re-asked instead of being scored as wrong.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, model_validator

SCHEMA_NAME = "muc4_v1"
RECORDS_FIELD = "templates"

Span = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ROLES = ("PerpInd", "PerpOrg", "Target", "Victim", "Weapon")


class Record(BaseModel):
    """Unknown keys are errors, so a misspelt slot is re-asked rather than dropped."""

    model_config = ConfigDict(extra="forbid")


class IncidentType(StrEnum):
    attack = "attack"
    bombing = "bombing"
    kidnapping = "kidnapping"
    arson = "arson"
    robbery = "robbery"
    forced_work_stoppage = "forced work stoppage"


def _squash(text: str) -> str:
    """Lower case, punctuation and runs of spaces made one space: how a filler is looked up in the text.

    Punctuation is ignored as the scorer ignores it: '"santo tomas" farm' is in the text as 'santo tomas farm'.
    """
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


class Template(Record):
    """One terrorist incident: its type and who and what took part, each filler copied from the text."""

    incident_type: IncidentType = Field(
        description="bombing: explosives; kidnapping: people seized; arson: set on fire; robbery: theft; "
        "forced work stoppage: strike imposed by threat; attack: any other violent act (shooting, murder, assault)"
    )
    PerpInd: list[Span] = Field(
        max_length=4, description="The people who did it, as the text names or describes them ('guerrillas')"
    )
    PerpOrg: list[Span] = Field(
        max_length=3, description="The organization responsible, by name ('fmln', 'shining path')"
    )
    Target: list[Span] = Field(
        max_length=5, description="Physical things attacked: buildings, vehicles, installations, offices"
    )
    Victim: list[Span] = Field(
        max_length=6, description="People killed, hurt, kidnapped or attacked, by name or description"
    )
    Weapon: list[Span] = Field(max_length=4, description="Weapons and devices used ('car bomb', 'dynamite')")

    @model_validator(mode="after")
    def _grounded(self, info: ValidationInfo) -> Template:
        context = info.context if isinstance(info.context, dict) else {}
        source = context.get("source_text")
        if not source:
            return self
        text = f" {_squash(source)} "
        missing = [
            f"{role}: '{span}'" for role in ROLES for span in getattr(self, role) if f" {_squash(span)} " not in text
        ]
        if missing:
            raise ValueError(
                "these fillers do not occur in the article; copy the exact words or leave them out: "
                + "; ".join(missing)
            )
        return self


class MUC4Extraction(Record):
    """Every terrorist incident the text reports; [] when it reports none."""

    templates: list[Template] = Field(max_length=6)


RESPONSE_MODEL = MUC4Extraction

# Every filler is copied from the text: each is located in it (llm_extract.grounding) and all are key values,
# though the validator above already refuses a filler that is not in the text whenever it sees the text.
GROUNDED_FIELDS = tuple(f"{role}[]" for role in ROLES)
KEY_FIELDS = GROUNDED_FIELDS


def same_record(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two templates of one answer are one incident told twice when their types agree and they share a filler (or
    neither has any): the embedded model repeats a template rather than stopping (on the development split, 94 of
    its 253 templates repeated an earlier one; README, "Quality")."""
    if a.get("incident_type") != b.get("incident_type"):
        return False
    fillers_a = {_squash(filler) for role in ROLES for filler in a.get(role) or []}
    fillers_b = {_squash(filler) for role in ROLES for filler in b.get(role) or []}
    return bool(fillers_a & fillers_b) or not (fillers_a or fillers_b)


SAME_RECORD = same_record

# Trained on the MUC-4 training split (evals/muc4/train_stages.py; llm_extract.extraction.roles, .record_type and
# .relevance): a filler is moved to the slot its head word fills in the training keys, a place name leaves the
# participant slots, a template's type is read from its fillers and their context, and the templates of an
# article the relevance model finds reports no incident are set aside.
ROLE_LEXICON = "muc4_v1.roles.json"
ROLE_SLOTS = ROLES
TYPE_MODEL = "muc4_v1.types.json"
TYPE_FIELD = "incident_type"
RELEVANCE_MODEL = "muc4_v1.relevance.json"
