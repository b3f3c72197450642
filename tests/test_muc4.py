"""The MUC-4 schema: fillers must occur in the text, checked by validation and re-asked when they do not."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from llm_extract.api import extract_one, make_extractor
from llm_extract.core.config import load_settings
from llm_extract.extraction.requests import build_request
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document
from llm_extract.providers.provider import remote_endpoint
from llm_extract.testing.fake_openai import FakeOpenAI

TEXT = "Urban  guerrillas of the FMLN set off a car bomb outside the U.S. embassy in San Salvador today."
MUC4 = load_schema("muc4_v1").response_model


def answer(**roles: list[str]) -> dict:
    base = {"incident_type": "bombing", "PerpInd": [], "PerpOrg": [], "Target": [], "Victim": [], "Weapon": []}
    return {"templates": [base | roles]}


def test_fillers_found_in_the_text_pass_whatever_their_case_and_spacing() -> None:
    grounded = answer(PerpInd=["urban guerrillas"], PerpOrg=["fmln"], Target=["U.S. embassy"], Weapon=["car bomb"])
    record = MUC4.model_validate(grounded, context={"source_text": TEXT})
    assert record.templates[0].Target == ["U.S. embassy"]


def test_a_filler_not_in_the_text_is_an_error_naming_it() -> None:
    invented = answer(PerpOrg=["farabundo marti national liberation front"], Weapon=["car bomb"])
    with pytest.raises(ValidationError, match="PerpOrg: 'farabundo marti national liberation front'"):
        MUC4.model_validate(invented, context={"source_text": TEXT})
    MUC4.model_validate(invented)  # without the text (e.g. re-reading a stored run) nothing is checked


def test_an_invented_filler_is_reasked_and_the_corrected_answer_kept() -> None:
    invented = json.dumps(answer(PerpOrg=["farabundo marti national liberation front"]))
    corrected = json.dumps(answer(PerpOrg=["fmln"]))
    document = Document(id="d1", text=TEXT, origin="test")
    with FakeOpenAI(script=["invalid", "ok"], invalid_answer=invented, answer=corrected) as fake:
        settings = load_settings(base_url=fake.base_url, model="fake", schema_name="muc4_v1", prompt_name="muc4_v1")
        extractor = make_extractor(remote_endpoint(settings), settings)
        result = asyncio.run(extract_one(extractor, build_request(document, extractor.prompt)))
    assert result.status == "ok" and result.reasks == 1
    assert result.data == answer(PerpOrg=["fmln"])
    reask = fake.requests[1]["messages"][-1]["content"]
    assert "do not occur in the article" in reask and "farabundo marti national liberation front" in reask
