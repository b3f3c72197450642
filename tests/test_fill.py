"""Per-incident extraction (extraction/fill.py): the plan lines an answer left without a record, each filled by a
call of its own after the document's messages; the first answer's cache key unchanged; a failed fill loses
nothing."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from llm_extract.api import extract_batch
from llm_extract.core.config import Settings, load_settings
from llm_extract.core.errors import LLMExtractError, PromptNotFound
from llm_extract.extraction.extract import ExtractionResult, PriorAnswer, SamplingParams, Usage
from llm_extract.extraction.fill import FillingExtractor, load_fill, unfilled_lines
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.requests import ExtractionRequest, build_request
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document
from llm_extract.runs.cache import ResponseCache
from llm_extract.runs.identity import WorkIdentity
from llm_extract.runs.runline import RunLine
from llm_extract.scoring.suite import load_suite

from .conftest import SEEDS

SPEC = load_schema("incident_v1")
PROMPT = load_prompt("incident_v5")
FILL = load_fill("fill_v1")
TEXT = "A car bomb exploded in Lima on Monday, killing two. On Tuesday gunmen killed a judge in Cuzco."


def record(town: str, killed: int) -> dict[str, Any]:
    return {
        "role": "main", "sub_event_type": "attack", "weapons": [],
        "date": {"start": None, "end": None, "precision": None, "text": None},
        "location": {"site": None, "town": town, "region": None, "country": "PE", "precision": "town"},
        "perpetrators": [], "claimed_by": [], "targets": [],
        "outcome": {"intercepted": False, "damage": None},
        "casualties": {"killed": {"min": killed, "max": killed, "text": None},
                       "injured": {"min": None, "max": None, "text": None}},
        "evidence": [TEXT], "event_type": "violence_against_civilians",
    }  # fmt: skip


class Answers:
    """Stands for an extractor: hands out prepared results in order and keeps the requests it was given."""

    def __init__(self, *results: ExtractionResult) -> None:
        self.results = list(results)
        self.requests: list[ExtractionRequest] = []
        self.schema, self.prompt = SPEC, PROMPT
        self.params = SamplingParams("local", 0.0, 2048, 1234)

    async def extract(self, request: ExtractionRequest, prior: PriorAnswer | None = None) -> ExtractionResult:
        self.requests.append(request)
        return copy.deepcopy(self.results.pop(0))

    async def aclose(self) -> None:
        pass


def ok(data: dict[str, Any], tokens: int = 10, **more: Any) -> ExtractionResult:
    return ExtractionResult("d", "ok", data, usage=Usage(tokens, tokens), attempts=1, latency_s=1.0, **more)


def request() -> ExtractionRequest:
    return build_request(Document(id="d", text=TEXT, origin="test", published="1990-01-10"), PROMPT)


def test_unfilled_lines_are_those_after_the_answered_ones_less_blanks_and_repeats_up_to_the_limit() -> None:
    plan = ["bomb in Lima", "judge killed in Cuzco", " ", "Bomb  in LIMA", "a third", "a fourth"]
    assert unfilled_lines(plan, 1, 3) == [2, 5, 6]
    assert unfilled_lines(plan, 1, 1) == [2]
    assert unfilled_lines(plan, 2, 3) == [5, 6]
    assert unfilled_lines(plan[:2], 2, 3) == [] and unfilled_lines([], 0, 3) == []
    # a line whose record was dropped as a copy of another is unfilled too (fill_v2), unless its words repeat a
    # line that has its record
    assert unfilled_lines(plan, 2, 3, repeated=frozenset({1})) == [2, 5, 6]
    assert unfilled_lines(["a", "b", "a"], 3, 3, repeated=frozenset({2})) == []


def test_fill_v2_asks_again_for_a_line_whose_record_was_a_copy_of_another() -> None:
    lima, cuzco = record("Lima", 2), record("Cuzco", 1)
    plan = ["car bomb in Lima", "judge killed in Cuzco"]
    copied = ok({"attacks": plan, "incidents": [lima]}, duplicates=[{"index": 1, "same_as": 0, "record": lima}])
    filler = Answers(ok({"incidents": [cuzco]}))
    result = asyncio.run(FillingExtractor(Answers(copied), filler, load_fill("fill_v2")).extract(request()))  # type: ignore[arg-type]
    assert result.data is not None and result.data["incidents"] == [lima, cuzco]
    assert result.fills == [{"line": 2, "text": "judge killed in Cuzco", "status": "ok", "records": 1}]
    assert 'incident 2 only ("judge killed in Cuzco")' in filler.requests[0].messages[-1]["content"]
    assert asyncio.run(FillingExtractor(Answers(copied), Answers(), FILL).extract(request())).fills is None  # type: ignore[arg-type]


def test_each_unfilled_line_is_asked_after_the_documents_messages_and_its_record_joins_the_answer() -> None:
    lima, cuzco = record("Lima", 2), record("Cuzco", 1)
    plan = ["car bomb in Lima", "judge killed in Cuzco", "the Lima bomb again"]
    inner = Answers(ok({"attacks": plan, "incidents": [lima]}, resolved=[{"path": "incidents[0].date", "why": "x"}]))
    filler = Answers(
        ok({"incidents": [cuzco]}, resolved=[{"path": "incidents[0].location.country", "why": "y"}]),
        ok({"incidents": [copy.deepcopy(lima)]}),  # line 3 told the first record again
    )
    result = asyncio.run(FillingExtractor(inner, filler, FILL).extract(request()))  # type: ignore[arg-type]
    assert result.status == "ok" and result.data is not None
    assert result.data["incidents"] == [lima, cuzco] and result.data["attacks"] == plan
    sent = [fill.messages for fill in filler.requests]
    assert all(messages[:-1] == request().messages for messages in sent), "the article's messages are the prefix"
    assert 'incident 2 only ("judge killed in Cuzco")' in sent[0][-1]["content"]
    assert "3. the Lima bomb again" in sent[0][-1]["content"] and "incident 3 only" in sent[1][-1]["content"]
    assert result.fills == [
        {"line": 2, "text": "judge killed in Cuzco", "status": "ok", "records": 1},
        {"line": 3, "text": "the Lima bomb again", "status": "ok", "records": 0},
    ]
    assert result.duplicates == [{"index": 2, "same_as": 0, "record": lima, "fill": 3}]
    assert result.resolved[1] == {"path": "incidents[0].location.country", "why": "y", "fill": 2}
    assert result.usage.total_tokens == 60 and result.attempts == 3 and result.latency_s == 3.0
    assert result.cached is False


def test_a_failed_fill_leaves_the_first_answer_and_says_why_and_a_failed_answer_is_not_filled() -> None:
    lima = record("Lima", 2)
    inner = Answers(ok({"attacks": ["car bomb in Lima", "judge killed"], "incidents": [lima]}, cached=True))
    filler = Answers(ExtractionResult("d", "invalid", None, error="failed validation:\n- incidents: too short"))
    result = asyncio.run(FillingExtractor(inner, filler, FILL).extract(request()))  # type: ignore[arg-type]
    assert result.status == "ok" and result.data is not None and result.data["incidents"] == [lima]
    assert result.fills == [{"line": 2, "text": "judge killed", "status": "invalid", "records": 0,
                             "error": "failed validation:\n- incidents: too short"}]  # fmt: skip
    line = RunLine.from_result(request(), result, list_field="incidents", resume_key="k", model="local",
                               prompt=PROMPT, schema=SPEC)  # fmt: skip
    assert json.loads(line.to_json())["fills"] == result.fills, "the run line carries the fills"

    failed = Answers(ExtractionResult("d", "invalid", None, error="bad"))
    unused = Answers()
    assert asyncio.run(FillingExtractor(failed, unused, FILL).extract(request())).status == "invalid"  # type: ignore[arg-type]
    answered = Answers(ok({"attacks": ["car bomb in Lima"], "incidents": [lima]}))
    assert asyncio.run(FillingExtractor(answered, unused, FILL).extract(request())).fills is None  # type: ignore[arg-type]
    assert unused.requests == []


def test_the_first_answer_keeps_its_cache_key_and_a_fill_run_is_other_work() -> None:
    plain = load_settings(base_url="http://127.0.0.1:9/v1", model="local", prompt_name="incident_v5")
    filling = plain.model_copy(update={"fill": "fill_v1"})
    without, with_fill = WorkIdentity.of(plain, PROMPT, SPEC), WorkIdentity.of(filling, PROMPT, SPEC)
    assert "fill_sha256" not in without.describe(), "runs without a fill keep their keys"
    assert with_fill.without_fill().document_key("t", None) == without.document_key("t", None)
    assert with_fill.document_key("t", None) != without.document_key("t", None)
    assert with_fill.differences(without.describe()) == [f"fill_sha256: None -> {FILL.sha256!r}"]
    assert without.differences(with_fill.describe()) == [f"fill_sha256: {FILL.sha256!r} -> None"]


def test_fill_and_extraction_prompts_are_told_apart_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PromptNotFound, match="give it as --fill"):
        load_prompt("fill_v1")
    with pytest.raises(PromptNotFound, match="give it as --prompt"):
        load_fill("incident_v5")
    assert FILL.plan_field == "attacks" and FILL.max_lines == 2
    reference = Answers()
    reference.schema = load_schema("muc4_v1")
    with pytest.raises(PromptNotFound, match="no plan field 'attacks'"):
        FillingExtractor(reference, Answers(), FILL)  # type: ignore[arg-type]
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "fill"\nplan = "attacks"\nmessage = "x"\nmax_lines = 0\n')
    with pytest.raises(PromptNotFound, match="max_lines"):
        load_fill(str(bad))
    settings = load_settings(base_url="http://127.0.0.1:9/v1", model="x", fill="fill_v1")
    with pytest.raises(LLMExtractError, match="--fill"):
        extract_batch([SEEDS[0]], tmp_path / "out.jsonl", settings, batch=True)


@pytest.mark.cassette
def test_recorded_fill_asks_for_the_line_the_first_answer_left_out(replay_settings: Settings, tmp_path: Path) -> None:
    """Seed 002: the model's plan names the drones launched at al-Asad and at al-Harir, its answer fills al-Asad
    only (the first answer replays the seed suite's recording); the fill is asked for the al-Harir line."""
    settings = replay_settings.model_copy(update={"fill": "fill_v1", "max_retries": 0})
    cache = ResponseCache(tmp_path / "cache")
    output = tmp_path / "run.jsonl"
    extract_batch([SEEDS[2]], output, settings, cache=cache)
    (line,) = [json.loads(text) for text in output.read_text().splitlines()]
    assert line["status"] == "ok" and line["cached"] is False
    (fill,) = line["fills"]
    assert fill["line"] == 2 and "Harir" in fill["text"] and fill["status"] == "ok"
    assert len(line["incidents"]) == 1 + fill["records"]
    manifest = json.loads(output.with_suffix(".manifest.json").read_text())
    assert manifest["fill"]["name"] == "fill_v1" and manifest["work"]["fill_sha256"] == FILL.sha256
    again = tmp_path / "again.jsonl"  # the answer and its fill both from the cache: no model call
    extract_batch([SEEDS[2]], again, settings, cache=cache)
    (repeat,) = [json.loads(text) for text in again.read_text().splitlines()]
    assert repeat["cached"] is True and repeat["fills"] == line["fills"]
    assert repeat["incidents"] == line["incidents"]
    without = tmp_path / "without.jsonl"  # the same first answer, cached, without the fill
    extract_batch([SEEDS[2]], without, replay_settings.model_copy(update={"max_retries": 0}), cache=cache)
    (alone,) = [json.loads(text) for text in without.read_text().splitlines()]
    assert alone["cached"] is True and "fills" not in alone and alone["incidents"] == line["incidents"][:1]


def test_a_suite_names_its_fill_and_none_turns_a_fill_off(tmp_path: Path) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "suite.toml").write_text(
        'name = "s"\nschema = "incident_v1"\nprompt = "incident_v5"\nfill = "fill_v1"\n[scoring]\nprofile = "gtt"\n'
    )
    assert load_suite(folder).fill == "fill_v1"
    assert load_settings(fill="none").fill is None and load_settings(fill=" None ").fill is None
    assert load_settings(fill="fill_v1").fill == "fill_v1"
