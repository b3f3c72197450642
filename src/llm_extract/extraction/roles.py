"""Role typing: a filler moved to the slot its head word fills in labelled data; a place name is no participant.

Why: the embedded model copies the right phrase into the wrong slot. On the MUC-4 development split it wrote
'fmln' as the people who did it (the key: the organisation), victims as targets and weapons as perpetrators, and
put towns and departments among the targets. A role lexicon counts, for each head word, the slots it fills in a
labelled training set (schemas/muc4_v1.roles.json, made from the MUC-4 training keys by
evals/muc4/train_stages.py); a filler whose head fills another slot in at least `share` of at least `min_count`
training fillers is moved there. A head the lexicon does not know is left where the model put it, unless the
filler names a place (a town of the gazetteer, a country, '<name> department'): then it is dropped from the
participant slots. Every change is kept on the line as a resolution (what, where to, why).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from llm_extract.core.text import fold_name
from llm_extract.extraction.normalize.countries import countries_named
from llm_extract.extraction.normalize.gazetteer import gazetteer

# '<name> department': two words at most before the word, so 'vehicles parked in the area' stays a target.
_AREA = re.compile(r"^(?:\w+ ){1,2}(?:department|province|region|area|zone|municipality|jurisdiction)$")


def head_word(filler: str) -> str:
    """The word a filler is about: the last before 'of' ('offices of the mayor' -> 'offices'), else the last."""
    words = fold_name(filler).split()
    if "of" in words[1:]:
        words = words[: words.index("of", 1)]
    return words[-1] if words else ""


@dataclass(frozen=True)
class RoleLexicon:
    """Head word -> {slot: training fillers with that head}, and when a count is decisive."""

    heads: dict[str, dict[str, int]]
    min_count: int
    share: float
    place_free: tuple[str, ...]  # slots a bare place name never fills (participants, not locations)
    source: str

    def slot_for(self, filler: str, slot: str) -> tuple[str, str] | None:
        """(the slot it belongs in, why) when the lexicon says it is another one."""
        head = head_word(filler)
        counts = self.heads.get(head)
        if not counts:
            return None
        total = sum(counts.values())
        best, n = max(counts.items(), key=lambda item: item[1])
        decisive = total >= self.min_count and n / total >= self.share and counts.get(slot, 0) / total < 1 - self.share
        if best == slot or not decisive:
            return None
        return best, f"'{head}' is {best} in {n} of {total} {self.source} fillers"

    def is_place(self, filler: str) -> bool:
        """A town, a country or '<name> department', and not a head the lexicon knows well ('rifle' is a town too)."""
        folded = fold_name(filler)
        if _AREA.match(folded):
            return True
        if sum(self.heads.get(head_word(filler), {}).values()) >= self.min_count:
            return False
        return bool(gazetteer().named(folded)) or (len(folded.split()) <= 2 and bool(countries_named(filler)))

    def retype(self, record: dict[str, Any], slots: tuple[str, ...]) -> list[tuple[str, Any, Any, str]]:
        """Move or drop fillers of one record in place; (slot, before, after, why) for each slot changed."""
        before = {slot: list(record.get(slot) or []) for slot in slots}
        after: dict[str, list[str]] = {slot: [] for slot in slots}
        reasons: dict[str, list[str]] = {slot: [] for slot in slots}
        for slot in slots:
            for filler in before[slot]:
                if slot in self.place_free and self.is_place(filler):
                    reasons[slot].append(f"'{filler}' dropped: a place, not a participant")
                    continue
                moved = self.slot_for(filler, slot)
                target = slot if moved is None or moved[0] not in after else moved[0]
                if target != slot and moved is not None:
                    reasons[slot].append(f"'{filler}' moved to {target}: {moved[1]}")
                    reasons[target].append(f"'{filler}' moved here from {slot}")
                if filler not in after[target]:
                    after[target].append(filler)
        self._once(after, reasons)
        changes = []
        for slot in slots:
            if after[slot] != before[slot]:
                record[slot] = after[slot]
                changes.append((slot, before[slot], after[slot], "; ".join(reasons[slot])))
        return changes

    def _once(self, after: dict[str, list[str]], reasons: dict[str, list[str]]) -> None:
        """A filler in two slots stays in one (the schema asks for each once): the one its head fills most often in
        training, else the first."""
        slots = list(after)
        for index, slot in enumerate(slots):
            for filler in list(after[slot]):
                others = [other for other in slots[index + 1 :] if fold_name(filler) in map(fold_name, after[other])]
                if not others:
                    continue
                counts = self.heads.get(head_word(filler), {})
                keep = max([slot, *others], key=lambda s: counts.get(s, 0))  # ties: the first
                for other in [slot, *others]:
                    if other != keep:
                        after[other] = [f for f in after[other] if fold_name(f) != fold_name(filler)]
                        reasons[other].append(f"'{filler}' dropped: it is also in {keep}")


@cache
def load_role_lexicon(path: Path) -> RoleLexicon:
    data = json.loads(path.read_text(encoding="utf-8"))
    return RoleLexicon(
        heads=data["heads"],
        min_count=int(data["min_count"]),
        share=float(data["share"]),
        place_free=tuple(data["place_free"]),
        source=str(data["source_name"]),
    )
