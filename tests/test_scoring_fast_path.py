"""The fast scorer's shortcuts (scoring.py, "the fast path") give what the reference gives.

The alignment is searched with linear_sum_assignment only where its answer could depend on the order of the
inputs; these tests check the rule that decides it against every optimal assignment of small matrices, and
the documents it now decides against the reference in every input order.
"""

from __future__ import annotations

import copy
import itertools
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_extract.scoring.fields import (
    FieldSpec,
    ScoringConfig,
    _clear_assignment,
    key_agrees,
    reference_score_document,
    score,
    score_document,
)

FLOOR = 0.3
VALUES = [-1.0, 0.0, 0.2, 0.29, 0.3, 0.45, 0.5, 1.0]  # -1.0: key fields contradict; ties are common on purpose


def optimal_pairs(matrix: list[list[float]], floor: float) -> set[frozenset[tuple[int, int]]]:
    """The pairs at or above the floor of every optimal assignment (as linear_sum_assignment finds them: one
    partner for each incident on the smaller side), by trying them all."""
    rows, cols = len(matrix), len(matrix[0])
    if rows <= cols:
        assignments = [
            list(zip(range(rows), chosen, strict=True)) for chosen in itertools.permutations(range(cols), rows)
        ]
    else:
        assignments = [
            list(zip(chosen, range(cols), strict=True)) for chosen in itertools.permutations(range(rows), cols)
        ]
    totals = [sum(matrix[r][c] for r, c in assignment) for assignment in assignments]
    best = max(totals)
    return {
        frozenset((r, c) for r, c in assignment if matrix[r][c] >= floor)
        for assignment, total in zip(assignments, totals, strict=True)
        if total >= best - 1e-9
    }


@settings(max_examples=400, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda rows: st.integers(1, 4).flatmap(
            lambda cols: st.lists(
                st.lists(st.sampled_from(VALUES), min_size=cols, max_size=cols), min_size=rows, max_size=rows
            )
        )
    )
)
def test_a_clear_assignment_is_what_every_optimal_assignment_aligns(matrix: list[list[float]]) -> None:
    chosen = _clear_assignment(matrix, FLOOR)
    if chosen is not None:
        assert optimal_pairs(matrix, FLOOR) == {frozenset(pair for pair in chosen if matrix[pair[0]][pair[1]] >= FLOOR)}


def test_an_incident_that_contradicts_every_partner_leaves_the_assignment_clear() -> None:
    assert _clear_assignment([[1.0, -1.0], [-1.0, -1.0]], FLOOR) == [(0, 0)]
    assert _clear_assignment([[-1.0, 1.0, -1.0], [-1.0, -1.0, -1.0]], FLOOR) == [(0, 1)]
    assert _clear_assignment([[-1.0], [-1.0]], FLOOR) == []  # a gold incident no prediction may align with
    assert _clear_assignment([[0.5, 0.5]], FLOOR) is None, "a tie above the floor is the assignment's to break"
    # a prediction under the floor everywhere but not the same everywhere can still take another's partner
    assert _clear_assignment([[0.5, 0.45], [0.29, -1.0]], FLOOR) is None


SPECS = (
    FieldSpec("type", "enum", 1.5),
    FieldSpec("date.start", "date", 2.0, precision_path="date.precision"),
    FieldSpec("date.precision", "enum", 0.5),
    FieldSpec("site", "name", 2.0),
    FieldSpec("weapons[]", "enum_set", 1.0),
    FieldSpec("note", "enum", 0.0),  # scored, but no weight in the alignment
)
CONFIG = ScoringConfig(fields=SPECS, key_fields=("site", "date.start"))


def incident(rng: random.Random, ident: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "type": rng.choice(["attack", "shelling"]),
        "date": {"start": f"2023-10-{rng.randint(1, 6):02d}", "precision": rng.choice(["day", "day", "month"])},
        "site": rng.choice(["Erbil airport", "al-Asad airbase", "al-Harir", None]),
        "weapons": rng.sample(["drone", "rocket"], rng.randint(0, 2)),
        "note": rng.choice(["a", "b", None]),
    }
    if ident is not None:
        record["id"] = ident
    return record


def test_documents_decided_without_the_assignment_equal_the_reference_in_every_order() -> None:
    rng = random.Random(13)
    for doc in range(300):
        gold = [incident(rng, f"g{doc}-{n}") for n in range(rng.randint(1, 4))]
        predicted = [copy.deepcopy(item) for item in gold if rng.random() < 0.8]
        for item in predicted:  # moved days and renamed sites contradict the gold's key fields
            if rng.random() < 0.4:
                item["date"]["start"] = f"2023-11-{rng.randint(1, 28):02d}"
            if rng.random() < 0.2:
                item["site"] = "Kirkuk K1 base"
        predicted += [incident(rng, None) for _ in range(rng.randint(0, 2))]
        expected = reference_score_document(CONFIG, f"d{doc}", gold, predicted)
        assert score_document(CONFIG, f"d{doc}", gold, predicted) == expected
        shuffled_gold, shuffled_pred = gold[:], list(enumerate(predicted))
        rng.shuffle(shuffled_gold)
        rng.shuffle(shuffled_pred)
        again = score_document(CONFIG, f"d{doc}", shuffled_gold, [p for _, p in shuffled_pred])
        aligned = {(pair.gold_id, shuffled_pred[pair.pred_index][0], pair.similarity) for pair in again.pairs}
        assert aligned == {(pair.gold_id, pair.pred_index, pair.similarity) for pair in expected.pairs}
        assert (again.incidents, again.fields) == (expected.incidents, expected.fields)


def test_a_field_without_weight_is_counted_like_any_other() -> None:
    gold = [{"id": "g", "type": "attack", "site": "Erbil airport", "note": "a"}]
    predicted = [{"type": "attack", "site": "Erbil airport", "note": "b"}]
    result = score(CONFIG, {"d": gold}, {"d": predicted})
    assert result.documents[0] == reference_score_document(CONFIG, "d", gold, predicted)
    assert (result.fields["note"].fp, result.fields["note"].fn) == (1, 1)


def test_a_date_key_field_allows_the_days_near_each_gold_alternative() -> None:
    spec = FieldSpec("date.start", "date")
    config = ScoringConfig(fields=(spec,), date_tolerance_days=1)
    cases = [
        ("2023-10-05", "2023-10-06", None, True),
        ("2023-10-05", "2023-10-07", "day", False),
        (["2023-10-01", "2023-10-07"], "2023-10-06", ["day", "month"], True),  # the first precision counts
        ({"range": ["2023-10-01", "2023-10-03"]}, "2023-10-04", None, True),
        ({"range": ["2023-10-01", "2023-10-03"]}, "2023-09-29", None, False),
        ({"range": [None, "2023-10-03"]}, "1990-01-01", None, True),
        ({"range": ["2023-10-01", "someday"]}, "1990-01-01", None, True),  # an unreadable bound: no condition
        (["2023-10-05", None], "2024-01-01", None, True),  # null accepted: the day is not fixed
        ("2023-10-05", "2024-01-01", "month", True),  # coarser than a day
        ("2023-10-05", "not a date", None, True),
        ("2023-10-05", None, None, True),
    ]
    for gold, pred, precision, agrees in cases:
        assert key_agrees(spec, gold, pred, precision, config) is agrees, (gold, pred, precision)
