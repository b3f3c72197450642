"""core.metrics: one empty-set rule for precision, recall and F1."""

from __future__ import annotations

import pytest

from llm_extract.core.metrics import EMPTY_SCORE, Counts, f1_score, ratio, rounded


def test_a_ratio_over_nothing_is_the_empty_score_unless_told_otherwise() -> None:
    assert EMPTY_SCORE == 1.0
    assert ratio(0, 0) == 1.0 and ratio(0, 0, empty=0.0) == 0.0
    assert ratio(0, 4) == 0.0 and ratio(3, 4) == 0.75


def test_f1_is_the_harmonic_mean_and_zero_when_both_scores_are() -> None:
    assert f1_score(0.0, 0.0) == 0.0
    assert f1_score(1.0, 0.0) == 0.0
    assert f1_score(0.5, 1.0) == pytest.approx(2 / 3)
    assert f1_score(0.6, 0.6) == pytest.approx(0.6)


def test_counts_with_empty_sets() -> None:
    nothing = Counts()
    assert (nothing.precision, nothing.recall, nothing.f1, nothing.agreement) == (1.0, 1.0, 1.0, 1.0)
    only_missed = Counts(fn=2)  # nothing claimed: nothing wrong, but everything missed
    assert (only_missed.precision, only_missed.recall, only_missed.f1) == (1.0, 0.0, 0.0)
    only_spurious = Counts(fp=3)  # nothing to find: nothing missed, but every claim wrong
    assert (only_spurious.precision, only_spurious.recall, only_spurious.f1) == (0.0, 1.0, 0.0)


def test_counts_add_up_and_report_rounded() -> None:
    total = Counts(tp=1, fp=1)
    total += Counts(tp=1, fn=1)
    assert total == Counts(tp=2, fp=1, fn=1)
    assert total.agreement == 0.5
    assert total.as_dict() == {"tp": 2, "fp": 1, "fn": 1, "precision": 0.6667, "recall": 0.6667, "f1": 0.6667}
    assert list(total.as_dict()) == ["tp", "fp", "fn", "precision", "recall", "f1"]  # reports keep this order


def test_rounded_keeps_four_decimals_in_report_order() -> None:
    assert rounded(1 / 3, 2 / 3, 0.444444) == {"precision": 0.3333, "recall": 0.6667, "f1": 0.4444}
    assert list(rounded(0, 0, 0)) == ["precision", "recall", "f1"]
