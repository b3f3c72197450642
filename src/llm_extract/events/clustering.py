"""Scores for a clustering against a gold clustering of the same items: pairwise and B-cubed.

A clustering is a mapping item -> cluster label. Both measures are computed from the contingency
counts n(c, g) = how many items predicted cluster c and gold cluster g share, so they cost O(items):

- **pairwise**: a true positive is a pair of items together in both clusterings; a false positive is
  together only in the prediction, a false negative only in the gold. Counted as `core.metrics.Counts`, so
  with no predicted pairs precision is 1.0 (nothing claimed, nothing wrong), as the field scores do.
- **B-cubed** (Bagga and Baldwin 1998): for each item, precision is the share of its predicted cluster
  that is in its gold cluster and recall the share of its gold cluster that is in its predicted one;
  both are averaged over items, and F1 is their harmonic mean. Unlike pairwise scores it does not let
  large clusters dominate, and it credits singletons correctly placed.

With no items at all, every score is 1.0 (there is nothing to get wrong).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from llm_extract.core.metrics import Counts, f1_score, rounded

Item = TypeVar("Item", bound=Hashable)
Clustering = Mapping[Item, Hashable]  # item -> cluster label


@dataclass(frozen=True)
class BCubed:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        return f1_score(self.precision, self.recall)

    def as_dict(self) -> dict[str, float]:
        return rounded(self.precision, self.recall, self.f1)


def _contingency(predicted: Clustering[Item], gold: Clustering[Item]) -> tuple[Counter, Counter, Counter]:
    if predicted.keys() != gold.keys():
        missing, extra = (
            sorted(map(str, gold.keys() - predicted.keys())),
            sorted(map(str, predicted.keys() - gold.keys())),
        )
        raise ValueError(f"the clusterings cover different items (not predicted: {missing}; not in gold: {extra})")
    both = Counter((predicted[item], gold[item]) for item in predicted)
    return both, Counter(predicted.values()), Counter(gold.values())


def _pairs(size: int) -> int:
    return size * (size - 1) // 2


def pairwise(predicted: Clustering[Item], gold: Clustering[Item]) -> Counts:
    """Pairs of items put together: in both (tp), only in the prediction (fp), only in the gold (fn)."""
    both, predicted_sizes, gold_sizes = _contingency(predicted, gold)
    tp = sum(_pairs(n) for n in both.values())
    return Counts(
        tp=tp,
        fp=sum(_pairs(n) for n in predicted_sizes.values()) - tp,
        fn=sum(_pairs(n) for n in gold_sizes.values()) - tp,
    )


def bcubed(predicted: Clustering[Item], gold: Clustering[Item]) -> BCubed:
    """Per-item precision and recall of the item's cluster, averaged over items."""
    both, predicted_sizes, gold_sizes = _contingency(predicted, gold)
    items = len(predicted)
    if not items:
        return BCubed(1.0, 1.0)
    precision = sum(n * n / predicted_sizes[c] for (c, _), n in both.items()) / items
    recall = sum(n * n / gold_sizes[g] for (_, g), n in both.items()) / items
    return BCubed(precision, recall)


def clustering_scores(predicted: Clustering[Item], gold: Clustering[Item]) -> dict[str, dict[str, float | int]]:
    """Both measures, as a report stores them."""
    return {"pairwise": pairwise(predicted, gold).as_dict(), "bcubed": bcubed(predicted, gold).as_dict()}
