"""Relevance: whether an article reports what the schema codes at all, from a classifier trained on labelled data.

Why: about half of MUC-4's documents report no terrorist incident (84 of the 200 development documents), and the
embedded model writes templates for most of them anyway: on TST1 it gave templates for 24 of the 50 documents
without any, every filler of them a false positive. A logistic regression over TF-IDF words (classifier.py),
trained on the MUC-4 training split (1,200 documents, none scored; evals/muc4/train_stages.py), gives each article
a probability; below the threshold the article's records are set aside (kept on the line as a resolution, so
review can restore them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from llm_extract.extraction.classifier import TextClassifier, load_classifier


@dataclass(frozen=True)
class RelevanceModel:
    classifier: TextClassifier  # classes "0" (no record) and "1"

    def probability(self, text: str) -> float:
        """P(the article reports at least one record)."""
        return self.classifier.probabilities(text)["1"]

    def why_not(self, text: str) -> str | None:
        """The reason to set the records aside, or None when the article is relevant."""
        p, threshold = self.probability(text), float(self.classifier.data["threshold"])
        if p >= threshold:
            return None
        source = self.classifier.data["source_name"]
        return f"the relevance model ({source}) gives this article {p:.2f}, under its threshold {threshold}"


@cache
def load_relevance_model(path: Path) -> RelevanceModel:
    return RelevanceModel(load_classifier(path))
