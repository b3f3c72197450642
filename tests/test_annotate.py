"""Stored lines carry grounding and normalisation beside the records; `require_grounding` re-asks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from llm_extract.api import extract_batch, extract_one, make_extractor
from llm_extract.core.config import load_settings
from llm_extract.core.paths import generic_path, iter_path
from llm_extract.evaluation.evaluate import grounding_summary
from llm_extract.extraction.annotate import annotate
from llm_extract.extraction.requests import build_request
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document
from llm_extract.providers.provider import remote_endpoint
from llm_extract.runs.runline import RunLine
from llm_extract.testing.fake_openai import FakeOpenAI

TEXT = (
    "BAGHDAD, Oct 19, 2023 -- Two drones targeted al-Asad airbase in western Iraq on Wednesday, "
    "causing minor injuries. The Islamic Resistance in Iraq claimed responsibility."
)
SPEC = load_schema("incident_v1")


def incident(site: str = "al-Asad airbase", claimed: str = "Islamic Resistance in Iraq") -> dict:
    count = {"min": None, "max": None, "text": None}
    return {
        "role": "main", "sub_event_type": "air_drone_strike",
        "weapons": [{"type": "drone", "count": 2, "text": "Two drones"}],
        "date": {"start": "2023-10-18", "end": None, "precision": "day", "text": "on Wednesday"},
        "location": {"site": site, "town": None, "region": "western Iraq", "country": None, "precision": "site"},
        "perpetrators": [{"name": claimed, "attribution": "claimed"}], "claimed_by": [claimed],
        "targets": [], "outcome": {"intercepted": None, "damage": None},
        "casualties": {"killed": count, "injured": {"min": 1, "max": None, "text": "minor injuries"}},
        "evidence": ["Two drones targeted al-Asad airbase in western Iraq on Wednesday"],
    }  # fmt: skip


def answer(**changes: str) -> str:
    return json.dumps({"attacks": ["drones at al-Asad airbase"], "incidents": [incident(**changes)]})


def test_paths_name_every_value() -> None:
    record = incident()
    assert list(iter_path(record, "weapons[].text", "incidents[0]")) == [("incidents[0].weapons[0].text", "Two drones")]
    assert list(iter_path(record, "location.town", "incidents[0]")) == []  # nulls are not values
    assert generic_path("incidents[0].perpetrators[1].name") == "incidents[].perpetrators[].name"


def test_annotation_grounds_values_and_normalises_beside_them() -> None:
    document = Document(id="d", text=TEXT, origin="test")
    notes = annotate([incident(site="Ain al-Asad air base")], document, SPEC)
    assert notes["anchor"] == {"date": "2023-10-19", "source": "dateline", "text": "Oct 19, 2023",
                               "start": 9, "end": 21}  # fmt: skip
    spans = {span["path"]: span for span in notes["grounding"]}
    evidence = spans["incidents[0].evidence[0]"]
    assert evidence["status"] == "exact" and TEXT[evidence["start"] : evidence["end"]] == incident()["evidence"][0]
    assert spans["incidents[0].location.site"]["status"] == "not_found"
    assert notes["ungrounded"] == ["incidents[0].location.site"]
    date = notes["normalized"]["incidents[0].date"]
    assert (date["start"], date["precision"], date["text"]) == ("2023-10-18", "day", "on Wednesday")
    assert notes["normalized"]["incidents[0].location"]["code"] == "IQ"  # from "western Iraq"
    assert notes["normalized"]["incidents[0].casualties.injured"]["min"] == 1

    # The input's publication date wins over the dateline: the Wednesday before Thursday 26 October.
    published = Document(id="d", text=TEXT, origin="test", published="2023-10-26")
    assert annotate([incident()], published, SPEC)["normalized"]["incidents[0].date"]["start"] == "2023-10-25"
    assert annotate([incident()], published, SPEC)["anchor"]["source"] == "published"


def run_one(fake: FakeOpenAI, require: bool, salvage: bool = True) -> object:
    settings = load_settings(
        base_url=fake.base_url, model="fake", require_grounding=require, max_reasks=1, salvage=salvage
    )
    extractor = make_extractor(remote_endpoint(settings), settings)
    document = Document(id="d1", text=TEXT, origin="test")
    return asyncio.run(extract_one(extractor, build_request(document, extractor.prompt)))


def test_require_grounding_reasks_an_invented_key_value_and_keeps_the_correction() -> None:
    invented, grounded = answer(site="Balad airbase"), answer()
    with FakeOpenAI(script=["invalid", "ok"], invalid_answer=invented, answer=grounded) as fake:
        result = run_one(fake, require=True)
    assert result.status == "ok" and result.reasks == 1
    assert result.data["incidents"][0]["location"]["site"] == "al-Asad airbase"
    reask = fake.requests[1]["messages"][-1]["content"]
    assert "incidents[0].location.site: 'Balad airbase' is not in the article" in reask


def test_require_grounding_reports_the_document_invalid_when_reasks_run_out() -> None:
    invented = answer(claimed="Kataib Hezbollah")
    with FakeOpenAI(script=["invalid", "invalid"], invalid_answer=invented) as fake:
        result = run_one(fake, require=True, salvage=False)
    assert result.status == "invalid" and result.attempts == 2
    assert "incidents[0].perpetrators[0].name: 'Kataib Hezbollah' is not in the article" in result.error
    assert "incidents[0].claimed_by[0]" in result.error

    with FakeOpenAI(script=["invalid", "invalid"], invalid_answer=invented) as fake:  # salvage drops the invented
        salvaged = run_one(fake, require=True)
    assert salvaged.status == "ok" and salvaged.data["incidents"][0]["claimed_by"] == []
    assert "Kataib Hezbollah" not in json.dumps(salvaged.data)
    assert "'Kataib Hezbollah' is not in the article" in salvaged.salvaged["error"]

    with FakeOpenAI(script=["invalid"], invalid_answer=invented) as fake:  # off by default: kept, and flagged
        assert run_one(fake, require=False).status == "ok"


def test_stored_lines_carry_grounding_and_the_report_counts_it(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps({"id": "d1", "text": TEXT, "published": "2023-10-19"}) + "\n")
    invented = incident(site="Balad airbase")
    invented["weapons"][0]["text"] = "Three rockets"  # grounded, not verified: kept and flagged
    with FakeOpenAI(answer=json.dumps({"attacks": ["drones"], "incidents": [invented]})) as fake:
        settings = load_settings(base_url=fake.base_url, model="fake", cache_dir=tmp_path / "cache")
        extract_batch([inputs], tmp_path / "out.jsonl", settings)
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["anchor"]["source"] == "published"
    assert record["ungrounded"] == ["incidents[0].weapons[0].text"]
    assert record["incidents"][0]["location"]["site"] is None, "a verified field the article does not write goes"
    assert {"path": "incidents[0].location.site", "given": "Balad airbase", "stored": None,
            "why": "not in the article"} in record["resolved"]  # fmt: skip
    assert record["normalized"]["incidents[0].date"]["start"] == "2023-10-18"
    summary = grounding_summary([RunLine.from_stored(record, "incidents")])
    assert summary["values"] == len(record["grounding"]) and summary["not_found"] == 1
    assert summary["by_field"]["incidents[].weapons[].text"]["rate"] == 0.0
    assert summary["rate"] == round((summary["values"] - 1) / summary["values"], 4)
