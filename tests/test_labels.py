"""Field labels and values as a reader reads them (review/labels.py): the one definition every page uses."""

from __future__ import annotations

import pytest

from llm_extract.review.labels import field_label, value_text


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("perpetrators[0].attribution", "Perpetrator 1 · attribution"),
        ("casualties.killed.min", "Casualties · killed · min"),
        ("sub_event_type", "Sub event type"),
        ("weapons[1]", "Weapon 2"),
        ("weapons[].type", "Weapons · type"),
        ("evidence[2]", "Evidence 3"),
        ("incidents[0].location.town", "Incident 1 · location · town"),
        ("PerpInd", "PerpInd"),
    ],
)
def test_a_field_path_reads_as_a_label(path: str, label: str) -> None:
    assert field_label(path) == label


@pytest.mark.parametrize("path", ["", "a[0", "a..b"])
def test_a_path_it_cannot_read_is_shown_as_it_is(path: str) -> None:
    assert field_label(path) == path


def test_values_read_as_text_never_as_reprs() -> None:
    assert value_text(["drone"]) == "drone"
    assert value_text(["drone", "rifle"]) == "drone; rifle"
    assert value_text(True) == "yes" and value_text(False) == "no"
    assert value_text(None) == value_text([]) == "∅"
    assert value_text(3) == "3"
    assert value_text({"range": [10, 15]}) == "10–15"
    assert value_text(["a", "b", "c", "d"], many=False) == "a / b / c (+1 accepted)"
    assert value_text({"name": "Hamas"}) == '{"name": "Hamas"}'


def test_the_comparison_page_uses_the_same_definition() -> None:
    from llm_extract.review import compare_page

    assert compare_page.value_text is value_text
