"""The incident schema: required-but-nullable fields, bounded lists, closed enums, semantic checks."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from pydantic import ValidationError

from llm_extract.extraction.schema_loader import available_schemas, export_json_schema, load_schema

SPEC = load_schema("incident_v1")
Model = SPEC.response_model

INCIDENT: dict[str, Any] = {
    "role": "main",
    "sub_event_type": "air_drone_strike",
    "weapons": [{"type": "drone", "count": 2, "text": "two drones"}],
    "date": {"start": "2023-10-18", "end": None, "precision": "day", "text": "on Wednesday"},
    "location": {
        "site": "al-Asad airbase",
        "town": None,
        "region": "western Iraq",
        "country": "IQ",
        "precision": "site",
    },
    "perpetrators": [{"name": "Islamic Resistance in Iraq", "attribution": "claimed"}],
    "claimed_by": ["Islamic Resistance in Iraq"],
    "targets": [{"name": "U.S. forces", "kind": "military"}],
    "outcome": {"intercepted": True, "damage": None},
    "casualties": {
        "killed": {"min": None, "max": None, "text": None},
        "injured": {"min": 1, "max": None, "text": "minor injuries"},
    },
    "evidence": ["two drone attacks which targeted the al-Asad airbase in western Iraq"],
}


def incident(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(INCIDENT)
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    return data


def test_valid_record_round_trips_and_derives_event_type() -> None:
    parsed = Model.model_validate({"attacks": ["drones at a base"], "incidents": [INCIDENT]})
    dumped = parsed.model_dump(mode="json")
    assert dumped["incidents"][0]["event_type"] == "explosions_remote_violence"
    assert dumped["incidents"][0]["date"]["start"] == "2023-10-18"


def test_stored_records_validate_again_but_not_with_a_contradictory_event_type() -> None:
    dumped = Model.model_validate({"attacks": ["drones at a base"], "incidents": [INCIDENT]}).model_dump(mode="json")
    assert Model.model_validate(dumped).model_dump(mode="json") == dumped
    dumped["incidents"][0]["event_type"] = "battles"
    with pytest.raises(ValidationError, match="does not belong to sub_event_type"):
        Model.model_validate(dumped)


def test_empty_incident_list_is_valid() -> None:
    assert Model.model_validate({"attacks": [], "incidents": []}).model_dump() == {"attacks": [], "incidents": []}


def _all_object_schemas(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found.extend(_all_object_schemas(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_all_object_schemas(value))
    return found


@pytest.mark.parametrize("name", available_schemas())
def test_every_field_is_required_and_every_list_bounded(name: str) -> None:
    schema = load_schema(name).json_schema
    objects = _all_object_schemas(schema)
    assert len(objects) >= 2
    for obj in objects:
        assert set(obj["required"]) == set(obj["properties"]), obj.get("title")
        assert obj.get("additionalProperties") is False, obj.get("title")
    text = json.dumps(schema)
    assert text.count('"type": "array"') == text.count('"maxItems"')


@pytest.mark.parametrize("missing", ["role", "date", "casualties", "evidence", "claimed_by"])
def test_a_missing_field_is_an_error_not_a_default(missing: str) -> None:
    data = incident()
    del data[missing]
    with pytest.raises(ValidationError, match=missing):
        Model.model_validate({"attacks": [], "incidents": [data]})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"role": "protagonist"}, "role"),
        ({"sub_event_type": "drone"}, "sub_event_type"),
        ({"location__country": "Iraq"}, "country"),
        ({"location__country": "XX"}, "not an ISO 3166-1 alpha-2"),
        ({"casualties__killed": {"min": 5, "max": 2, "text": "2 to 5"}}, "below min"),
        ({"date__end": "2023-10-01"}, "before date.start"),
        ({"date__start": None}, "precision must be 'unknown'"),
        ({"claimed_by": ["a", "b", "c", "d"]}, "at most 3"),
        ({"evidence": []}, "at least 1"),
        ({"weapons": [{"type": "drone", "count": -1, "text": None}]}, "greater than or equal to 0"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_semantic_errors_are_rejected_with_a_readable_message(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Model.model_validate({"attacks": [], "incidents": [incident(**changes)]})


def test_incident_list_is_bounded() -> None:
    with pytest.raises(ValidationError, match="at most 6"):
        Model.model_validate({"attacks": [], "incidents": [INCIDENT] * 7})


@pytest.mark.parametrize("name", available_schemas())
def test_exported_json_schema_file_is_current(name: str) -> None:
    """schemas/<name>.schema.json is what reviewers read; regenerate with `make schemas`."""
    spec = load_schema(name)
    exported = spec.path.with_suffix(".schema.json")
    assert exported.read_text() == export_json_schema(spec)


def test_cli_prints_the_schema_exactly() -> None:
    from typer.testing import CliRunner

    from llm_extract.cli import app

    result = CliRunner().invoke(app, ["schema", "show", "incident_v1"], terminal_width=60)
    assert result.exit_code == 0 and result.stdout == export_json_schema(SPEC)


def test_schema_hash_changes_with_file_contents(tmp_path) -> None:
    copy_path = tmp_path / "incident_copy.py"
    copy_path.write_text(SPEC.path.read_text() + "\n# a comment changes the hash\n")
    assert load_schema(str(copy_path)).sha256 != SPEC.sha256
