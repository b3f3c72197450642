"""Record type: a record's type read from its fillers and the words around them, by a classifier trained on keys.

Why: the type decides whether a MUC-4 template scores at all (GTT pairs only templates of one type), and the
embedded model mistypes: on TST1 it wrote kidnapping 13 times where the key has 6 and attack 19 times where it
has 47; given the best type for each of its templates, the run with the other stages would score 28.9 on TST1
instead of 18.4. The classifier (classifier.py) reads each filler as slot-marked words ('weapon_dynamite') plus
the text around the filler's first mention in the article, as it was trained on the training keys' templates
(evals/muc4/train_stages.py); where it gives another type at least its threshold, the type is changed, and the
line says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from llm_extract.extraction.classifier import TextClassifier, load_classifier

_WORD = re.compile(r"\w\w+")


def record_text(record: dict[str, Any], slots: tuple[str, ...], text: str, window: int) -> str:
    """What the classifier reads for one record: each filler's words marked with its slot, and `window` characters
    of the article on each side of the filler's first mention."""
    article = text.lower()
    parts: list[str] = []
    for slot in slots:
        for filler in record.get(slot) or []:
            phrase = str(filler).lower()
            parts += [f"{slot.lower()}_{word}" for word in _WORD.findall(phrase)]
            at = article.find(phrase)
            if at >= 0 and window > 0:
                parts.append(article[max(0, at - window) : at + len(phrase) + window])
    return " ".join(parts)


@dataclass(frozen=True)
class TypeModel:
    classifier: TextClassifier

    def retype(self, record: dict[str, Any], field: str, slots: tuple[str, ...], text: str) -> tuple[str, str] | None:
        """(the type, why) when the classifier gives another type than the record's at least its threshold."""
        data = self.classifier.data
        probabilities = self.classifier.probabilities(record_text(record, slots, text, int(data["window"])))
        best = max(probabilities, key=lambda name: probabilities[name])
        if best == record.get(field) or probabilities[best] < float(data["threshold"]):
            return None
        why = f"the type model ({data['source_name']}) gives {best} {probabilities[best]:.2f}"
        why += " from the fillers and their context"
        return best, why


@cache
def load_type_model(path: Path) -> TypeModel:
    return TypeModel(load_classifier(path))
