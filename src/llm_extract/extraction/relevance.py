"""Relevance: whether an article reports what the schema codes at all, from a linear model trained on labelled data.

Why: about half of MUC-4's documents report no terrorist incident (84 of the 200 development documents), and the
embedded model writes templates for most of them anyway: on TST1 it gave templates for 24 of the 50 documents
without any, every filler of them a false positive. A logistic regression over TF-IDF words, trained on the
MUC-4 training split (1,200 documents, none scored; evals/muc4/train_stages.py fits it with scikit-learn and
stores it as JSON next to the schema), gives each article a probability; below the threshold the article's
records are set aside (kept on the line as a resolution, so review can restore them).

The model is applied here by the formula scikit-learn's TfidfVectorizer(sublinear_tf=True) and
LogisticRegression use, so running it needs no scikit-learn; the stored file carries probabilities scikit-learn
gave for a few documents, and a test checks that this module gives the same.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


@dataclass(frozen=True)
class RelevanceModel:
    idf: dict[str, float]
    coef: dict[str, float]
    intercept: float
    threshold: float
    source: str

    def probability(self, text: str) -> float:
        """P(the article reports at least one record), as the trained pipeline computes it."""
        counts = Counter(token for token in _TOKEN.findall(text.lower()) if token in self.idf)
        weights = {term: (1 + math.log(n)) * self.idf[term] for term, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        score = self.intercept + sum(w / norm * self.coef.get(term, 0.0) for term, w in weights.items())
        return 1 / (1 + math.exp(-score))

    def why_not(self, text: str) -> str | None:
        """The reason to set the records aside, or None when the article is relevant."""
        p = self.probability(text)
        if p >= self.threshold:
            return None
        return f"the relevance model ({self.source}) gives this article {p:.2f}, under its threshold {self.threshold}"


@cache
def load_relevance_model(path: Path) -> RelevanceModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    terms = data["terms"]
    return RelevanceModel(
        idf={term: float(value[0]) for term, value in terms.items()},
        coef={term: float(value[1]) for term, value in terms.items()},
        intercept=float(data["intercept"]),
        threshold=float(data["threshold"]),
        source=str(data["source_name"]),
    )
