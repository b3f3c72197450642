"""core.paths: one path syntax, read, enumerated, replaced and written."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from llm_extract.core.paths import (
    generic_path,
    get_at,
    get_path,
    has_path,
    iter_path,
    loc_of,
    parse_path,
    path_of,
    replace_path,
    set_at,
    set_path,
    walk,
)

RECORD: dict[str, Any] = {
    "location": {"site": "al-Asad", "town": None},
    "weapons": [{"type": "drone", "count": 2}, {"type": "rocket"}, "bad"],
    "claimed_by": ["IRI", None],
    "groups": [{"members": [{"name": "a"}, {"name": "b"}]}, {"members": []}],
}


def test_parse_path_marks_list_steps() -> None:
    assert parse_path("weapons[].type") == (("weapons", True), ("type", False))
    assert parse_path("claimed_by[]") == (("claimed_by", True),)
    assert parse_path("location.site") == (("location", False), ("site", False))


def test_get_path_reads_keys_and_collects_from_list_elements() -> None:
    assert get_path(RECORD, "location.site") == "al-Asad"
    assert get_path(RECORD, "weapons[].count") == [2, None, None]  # a missing key or a non-object element: None
    assert get_path(RECORD, "claimed_by[]") == ["IRI", None]
    assert get_path(RECORD, "claimed_by[]") is not RECORD["claimed_by"]  # a copy
    assert get_path(RECORD, "groups[].members[].name") == [["a", "b"], []]  # nested lists stay nested
    assert get_path(RECORD, "location.site.name") is None and get_path(None, "location") is None
    assert get_path({}, "weapons[].type") is None  # no list at all, not an empty one


def test_walk_wraps_values_read_from_elements_of_the_first_list() -> None:
    def wrap(item: Any, key: str, value: Any) -> Any:
        return (key, value) if isinstance(item, dict) and item.get("count") else value

    assert walk(RECORD, parse_path("weapons[].type"), wrap) == [("type", "drone"), "rocket", None]
    assert walk(RECORD, parse_path("location.site"), wrap) == "al-Asad"


def test_has_path_stops_at_the_first_list() -> None:
    assert has_path(RECORD, "location.town")  # present, even null
    assert not has_path(RECORD, "location.region") and not has_path(RECORD, "date.start")
    assert has_path(RECORD, "weapons[].anything")
    assert not has_path({"location": "Baghdad"}, "location.site")


def test_iter_path_gives_concrete_paths_and_skips_nulls() -> None:
    assert list(iter_path(RECORD, "weapons[].type", "incidents[0]")) == [
        ("incidents[0].weapons[0].type", "drone"),
        ("incidents[0].weapons[1].type", "rocket"),
    ]
    assert list(iter_path(RECORD, "claimed_by[]", "")) == [("claimed_by[0]", "IRI")]
    assert list(iter_path(RECORD, "location.town", "")) == []
    assert list(iter_path(RECORD, "groups[].members[].name", "r")) == [
        ("r.groups[0].members[0].name", "a"),
        ("r.groups[0].members[1].name", "b"),
    ]
    # A list step over a value that is not a list reads it as it is.
    assert list(iter_path({"evidence": "one quote"}, "evidence[]", "")) == [("evidence", "one quote")]


def test_replace_path_copies_and_replaces_only_where_the_path_reaches() -> None:
    record = {"evidence": [1, 2], "location": {"site": 3}, "note": "x"}
    replaced = replace_path(record, "evidence[]", lambda value: value * 10)
    assert replaced == {"evidence": [10, 20], "location": {"site": 3}, "note": "x"}
    assert record["evidence"] == [1, 2]  # the original is untouched
    assert replace_path(record, "location.site", str)["location"] == {"site": "3"}
    assert replace_path(record, "missing[]", str) == record
    assert replace_path(record, "note[]", str) == record  # not a list: left alone


def test_set_path_makes_the_objects_on_the_way() -> None:
    record: dict[str, Any] = {"casualties": {"injured": 1}}
    set_path(record, "casualties.killed", 2)
    set_path(record, "outcome.intercepted", None)
    assert record == {"casualties": {"injured": 1, "killed": 2}, "outcome": {"intercepted": None}}
    with pytest.raises(ValueError, match="keys only"):
        set_path(record, "weapons[].type", "drone")


def test_generic_path_drops_indexes() -> None:
    assert generic_path("incidents[0].perpetrators[12].name") == "incidents[].perpetrators[].name"
    assert generic_path("incidents[0].evidence[2]") == "incidents[].evidence[]"
    assert generic_path("location.site") == "location.site"


def test_path_of_and_loc_of_are_inverse() -> None:
    loc = ("incidents", 0, "weapons", 1, "type")
    assert path_of(loc) == "incidents[0].weapons[1].type"
    assert loc_of("incidents[0].weapons[1].type") == loc
    assert loc_of("grid[1][2]") == ("grid", 1, 2) and path_of(("grid", 1, 2)) == "grid[1][2]"
    assert path_of(()) == ""


def test_get_at_reads_one_value_and_gives_none_where_the_path_does_not_reach() -> None:
    assert get_at(RECORD, loc_of("weapons[0].count")) == 2
    assert get_at(RECORD, loc_of("groups[0].members[1].name")) == "b"
    assert get_at(RECORD, ()) is RECORD
    assert get_at(RECORD, loc_of("weapons[3].type")) is None  # past the end
    assert get_at(RECORD, ("weapons", -1)) is None  # no counting from the end
    assert get_at(RECORD, loc_of("weapons[2].type")) is None  # the element is not an object
    assert get_at(RECORD, loc_of("location[0]")) is None  # an object read as a list
    assert get_at(RECORD, loc_of("location.site.name")) is None


def test_set_at_sets_one_element_and_makes_the_objects_on_the_way() -> None:
    record: dict[str, Any] = {"targets": [{"name": "a"}, {"name": "b"}], "location": None}
    assert set_at(record, loc_of("targets[1].name"), "c") is None
    assert set_at(record, loc_of("location.town"), "Mosul") is None  # a null object is made
    assert set_at(record, loc_of("outcome.damage.level"), "high") is None  # so are missing ones
    assert set_at(record, loc_of("targets[0]"), {"name": "z"}) is None
    assert record == {
        "targets": [{"name": "z"}, {"name": "c"}],
        "location": {"town": "Mosul"},
        "outcome": {"damage": {"level": "high"}},
    }


def test_set_at_says_why_it_cannot_and_makes_no_list_element() -> None:
    record: dict[str, Any] = {"targets": [{"name": "a"}], "note": "x", "weapons": None}
    before = copy.deepcopy(record)
    assert set_at(record, loc_of("targets[1].name"), "b") == "targets[1] does not exist (the list has 1 element(s))"
    assert set_at(record, loc_of("weapons[0].type"), "drone") == "weapons[0] does not exist (the list has 0 element(s))"
    assert set_at(record, loc_of("note.text"), "y") == "note.text: its parent is not an object"
    assert (
        set_at(record, loc_of("targets[0].name[0]"), "b")
        == "targets[0].name[0] does not exist (the list has 0 element(s))"
    )
    assert record == before  # nothing was written
