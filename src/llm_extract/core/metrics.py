"""Precision, recall and F1, with one rule for empty sets.

The rule: a ratio over nothing is 1.0. A run that claims nothing makes no wrong claim (precision 1.0), and gold
that holds nothing leaves nothing to miss (recall 1.0), so a field both sides leave empty scores 1.0 and never
drags a mean down. F1 is the harmonic mean, 0.0 when precision and recall are both 0. The GTT metric
(`llm_extract.scoring.gtt`) is the one exception: it reproduces a published scorer that reads 0/0 as 0, and passes that
as `empty`.
"""

from __future__ import annotations

from dataclasses import dataclass

EMPTY_SCORE = 1.0  # a ratio over nothing (module docstring)
DIGITS = 4  # decimals a report stores


def ratio(part: float, whole: float, empty: float = EMPTY_SCORE) -> float:
    """`part / whole`, or `empty` when `whole` is 0."""
    return part / whole if whole else empty


def f1_score(precision: float, recall: float) -> float:
    """The harmonic mean of precision and recall; 0.0 when both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def rounded(precision: float, recall: float, f1: float) -> dict[str, float]:
    """The three scores as a report stores them."""
    return {"precision": round(precision, DIGITS), "recall": round(recall, DIGITS), "f1": round(f1, DIGITS)}


@dataclass(slots=True)
class Counts:
    """True positives, false positives and false negatives, summed with +=."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        return self

    @property
    def precision(self) -> float:
        return ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return f1_score(self.precision, self.recall)

    @property
    def agreement(self) -> float:
        """Share of agreement for alignment (1 when both sides are empty is not counted: see scoring.similarity)."""
        return ratio(self.tp, self.tp + self.fp + self.fn)

    def as_dict(self) -> dict[str, float | int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, **rounded(self.precision, self.recall, self.f1)}
