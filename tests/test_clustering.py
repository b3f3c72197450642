"""Pairwise and B-cubed clustering scores: hand-computed cases and properties every clustering must meet."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_extract.events.clustering import bcubed, clustering_scores, pairwise

GOLD = {"a": "X", "b": "X", "c": "X", "d": "Y", "e": "Y"}  # {a, b, c} {d, e}


def test_hand_computed_example() -> None:
    predicted = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 2}  # {a, b} {c, d, e}
    # gold pairs ab ac bc de; predicted pairs ab cd ce de; shared ab de
    counts = pairwise(predicted, GOLD)
    assert (counts.tp, counts.fp, counts.fn) == (2, 2, 2)
    assert counts.precision == counts.recall == counts.f1 == 0.5
    # per item (precision, recall): a, b (2/2, 2/3); c (1/3, 1/3); d, e (2/3, 2/2)
    scores = bcubed(predicted, GOLD)
    assert scores.precision == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5)
    assert scores.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert scores.f1 == pytest.approx(11 / 15)


def test_a_perfect_clustering_scores_one() -> None:
    renamed = {item: f"cluster of {label}" for item, label in GOLD.items()}  # labels do not matter, only groups
    assert clustering_scores(renamed, GOLD) == {
        "pairwise": {"tp": 4, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0},
        "bcubed": {"precision": 1.0, "recall": 1.0, "f1": 1.0},
    }


def test_all_singletons_claim_nothing_and_find_nothing() -> None:
    singletons = {item: item for item in GOLD}
    counts = pairwise(singletons, GOLD)
    assert (counts.tp, counts.fp, counts.fn) == (0, 0, 4)
    assert (counts.precision, counts.recall, counts.f1) == (1.0, 0.0, 0.0)
    scores = bcubed(singletons, GOLD)
    assert scores.precision == 1.0
    assert scores.recall == pytest.approx((3 * (1 / 3) + 2 * (1 / 2)) / 5)  # each item finds only itself


def test_one_big_cluster_finds_everything_and_claims_too_much() -> None:
    lumped = dict.fromkeys(GOLD, 0)
    counts = pairwise(lumped, GOLD)
    assert (counts.tp, counts.fp, counts.fn) == (4, 6, 0)
    scores = bcubed(lumped, GOLD)
    assert scores.recall == 1.0
    assert scores.precision == pytest.approx((3 * 3 / 5 + 2 * 2 / 5) / 5)


def test_singletons_against_singletons_and_no_items_are_perfect() -> None:
    singletons = {item: item for item in "abc"}
    assert clustering_scores(singletons, singletons)["pairwise"]["f1"] == 1.0
    assert clustering_scores(singletons, singletons)["bcubed"]["f1"] == 1.0
    assert clustering_scores({}, {})["bcubed"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_clusterings_of_different_items_are_refused() -> None:
    with pytest.raises(ValueError, match="cover different items"):
        pairwise({"a": 1}, {"b": 1})


clusterings = st.dictionaries(st.integers(0, 30), st.integers(0, 5), min_size=1)


@given(clusterings, st.data())
def test_precision_and_recall_swap_when_prediction_and_gold_swap(
    predicted: dict[int, int], data: st.DataObject
) -> None:
    gold = {item: data.draw(st.integers(0, 5)) for item in predicted}
    forward, backward = bcubed(predicted, gold), bcubed(gold, predicted)
    assert forward.precision == pytest.approx(backward.recall)
    assert forward.recall == pytest.approx(backward.precision)
    assert pairwise(predicted, gold).tp == pairwise(gold, predicted).tp
    assert 0.0 <= forward.f1 <= 1.0
    assert bcubed(predicted, predicted).f1 == pytest.approx(1.0)
