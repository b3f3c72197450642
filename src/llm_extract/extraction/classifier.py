"""A text classifier trained elsewhere (scikit-learn), applied here by its formula: TF-IDF words, then a linear model.

Why by formula: running llm-extract should need no scikit-learn and no pickles; a TF-IDF vocabulary with
its weights is plain JSON, and applying it is a few lines. The formula is scikit-learn's
TfidfVectorizer(sublinear_tf=True) with its default tokens (words of two or more characters, lower-cased, L2
norm), then LogisticRegression: a sigmoid for two classes (one row of weights), a softmax for more. Each stored
model carries scikit-learn's own probabilities for a few inputs, and tests check this module gives the same.

File: {"classes": [...], "intercepts": [...], "terms": {word: [idf, [weight per row]]}, ...}.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


@dataclass(frozen=True)
class TextClassifier:
    classes: tuple[str, ...]
    intercepts: tuple[float, ...]  # one per row of weights: 1 for two classes, else one per class
    idf: dict[str, float]
    weights: dict[str, tuple[float, ...]]
    data: dict[str, Any]  # the rest of the file (threshold, source_name, checks, ...)

    def probabilities(self, text: str) -> dict[str, float]:
        counts = Counter(token for token in _TOKEN.findall(text.lower()) if token in self.idf)
        values = {term: (1 + math.log(n)) * self.idf[term] for term, n in counts.items()}
        norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
        scores = [
            intercept + sum(v / norm * self.weights[term][row] for term, v in values.items())
            for row, intercept in enumerate(self.intercepts)
        ]
        if len(scores) == 1:
            positive = 1 / (1 + math.exp(-scores[0]))
            return {self.classes[0]: 1 - positive, self.classes[1]: positive}
        top = max(scores)
        exps = [math.exp(score - top) for score in scores]
        total = sum(exps)
        return {name: e / total for name, e in zip(self.classes, exps, strict=True)}


def load_classifier(path: Path) -> TextClassifier:
    data = json.loads(path.read_text(encoding="utf-8"))
    terms = data.pop("terms")
    return TextClassifier(
        classes=tuple(str(name) for name in data.pop("classes")),
        intercepts=tuple(float(value) for value in data.pop("intercepts")),
        idf={term: float(value[0]) for term, value in terms.items()},
        weights={term: tuple(float(w) for w in value[1]) for term, value in terms.items()},
        data=data,
    )


def export_classifier(vectorizer: Any, model: Any, **extra: Any) -> dict[str, Any]:
    """The JSON form of a fitted TfidfVectorizer and LogisticRegression (for the training scripts)."""
    terms = {
        term: [round(float(vectorizer.idf_[index]), 6), [round(float(row[index]), 6) for row in model.coef_]]
        for term, index in sorted(vectorizer.vocabulary_.items())
    }
    classes = [str(name) for name in model.classes_]
    return extra | {
        "classes": classes,
        "intercepts": [round(float(value), 6) for value in model.intercept_],
        "terms": terms,
    }
