"""muc4_v1's trained stages: fillers moved to the slot their head fills in the MUC-4 training keys, place names out of
the participant slots, a template's type read from its fillers and their context, and an article the relevance model
finds reports no incident set aside; each change on the line, the plain reference untouched, and the three files
part of the schema's identity."""

from __future__ import annotations

import copy
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.core.errors import SchemaNotFound
from llm_extract.extraction.record_type import record_text
from llm_extract.extraction.resolve import resolve_records
from llm_extract.extraction.roles import head_word
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.testing.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
MUC4 = load_schema("muc4_v1")
TEXT = "Urban  guerrillas of the FMLN set off a car bomb outside the U.S. embassy in San Salvador today."
TRAIN = ROOT.parent / "shared" / "data" / "muc4" / "train.jsonl"


def _template(**slots: list[str]) -> dict[str, object]:
    return {"incident_type": "bombing", "PerpInd": [], "PerpOrg": [], "Target": [], "Victim": [], "Weapon": []} | slots


def test_the_head_word_is_the_last_before_of_or_the_last() -> None:
    assert head_word("the offices of the deputy mayor") == "offices"
    assert head_word("Urban guerrillas") == "guerrillas"
    assert head_word("Farabundo Marti National Liberation Front (FMLN)") == "fmln"
    assert head_word("") == ""


def test_an_organisation_moves_out_of_perpind_and_a_place_out_of_target() -> None:
    record = _template(PerpInd=["urban guerrillas", "FMLN"], Target=["U.S. embassy", "San Salvador"])
    changes = MUC4.role_lexicon.retype(record, MUC4.role_slots)
    assert record["PerpInd"] == ["urban guerrillas"] and record["PerpOrg"] == ["FMLN"]
    assert record["Target"] == ["U.S. embassy"]  # 'embassy' is a target in 11 of 11 training fillers
    why = {slot: reason for slot, _, _, reason in changes}
    assert why["PerpInd"] == "'FMLN' moved to PerpOrg: 'fmln' is PerpOrg in 122 of 123 MUC-4 training fillers"
    assert why["Target"] == "'San Salvador' dropped: a place, not a participant"


def test_a_head_the_lexicon_does_not_know_or_cannot_decide_stays_where_the_model_put_it() -> None:
    record = _template(Victim=["peasants"], Target=["vehicle"], Weapon=["rifle"])  # 'rifle' is also a town
    before = copy.deepcopy(record)
    assert MUC4.role_lexicon.retype(record, MUC4.role_slots) == [] and record == before


def test_a_filler_in_two_slots_stays_in_the_one_its_head_fills_in_training() -> None:
    record = _template(PerpInd=["terrorists"], Victim=["terrorists", "two peasants"])
    MUC4.role_lexicon.retype(record, MUC4.role_slots)
    assert record["PerpInd"] == ["terrorists"] and record["Victim"] == ["two peasants"]


def test_the_relevance_model_gives_the_probabilities_scikit_learn_gave() -> None:
    stored = json.loads((ROOT / "schemas" / "muc4_v1.relevance.json").read_text())["checks"]
    texts = {doc["id"]: doc["text"] for doc in map(json.loads, (ROOT / "evals/muc4/docs.jsonl").open())}
    assert len(stored) == 8
    for doc_id, probability in stored.items():
        assert MUC4.relevance.probability(texts[doc_id]) == pytest.approx(probability, abs=1e-5)


def test_the_type_model_gives_the_probabilities_scikit_learn_gave() -> None:
    checks = MUC4.type_model.classifier.data["checks"]
    texts = {doc["id"]: doc["text"] for doc in map(json.loads, (ROOT / "evals/muc4/docs.jsonl").open())}
    assert len(checks) == 8
    for check in checks:
        text = record_text(check["record"], MUC4.role_slots, texts[check["doc_id"]], 50)
        given = MUC4.type_model.classifier.probabilities(text)
        assert given == pytest.approx(check["probabilities"], abs=1e-5)


def test_the_record_text_marks_each_filler_with_its_slot_and_adds_its_context() -> None:
    record = _template(PerpOrg=["FMLN"], Weapon=["car bomb"], Victim=["nobody here"])
    assert record_text(record, MUC4.role_slots, TEXT, 10) == (
        "perporg_fmln as of the fmln set off a victim_nobody victim_here "  # slots in order; no context if not found
        "weapon_car weapon_bomb set off a car bomb outside t"
    )  # fmt: skip


def test_a_template_typed_against_its_fillers_is_retyped_and_the_line_says_why() -> None:
    kidnapping = "Guerrillas kidnapped businessman Juan Perez yesterday in Medellin. The kidnappers demanded a ransom."
    record = _template(PerpInd=["guerrillas"], Victim=["businessman Juan Perez"])
    record["incident_type"] = "bombing"
    changes = resolve_records([record], kidnapping, MUC4)
    assert record["incident_type"] == "kidnapping"
    assert changes[0].path == "templates[0].incident_type" and changes[0].given == "bombing"
    assert changes[0].why.startswith("the type model (MUC-4 training) gives kidnapping 0.")


def test_an_article_that_reports_no_incident_has_its_templates_set_aside() -> None:
    speech = ("The president spoke today about the economy and the coming elections. Inflation fell last month, "
              "and the central bank expects exports to grow next year, the finance minister said.")  # fmt: skip
    records = [_template(Target=["central bank"])]
    given = copy.deepcopy(records)
    changes = resolve_records(records, speech, MUC4)
    assert records == [] and changes[-1].path == "templates" and changes[-1].given == given
    assert changes[-1].why.startswith("the relevance model (MUC-4 training) gives this article 0.")
    assert resolve_records([_template(Weapon=["car bomb"])], TEXT, MUC4) == []  # relevant (0.90): kept as it is


def test_the_line_keeps_each_change_and_the_plain_reference_keeps_the_answer(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "embassy.txt").write_text(TEXT)
    answer = {"templates": [_template(PerpInd=["urban guerrillas", "FMLN"], Weapon=["car bomb"])]}
    with FakeOpenAI(answer=json.dumps(answer)) as fake:
        for prompt in ("muc4_v3", "plain_muc4"):
            settings = load_settings(base_url=fake.base_url, model="fake", schema_name="muc4_v1", prompt_name=prompt)
            extract_batch([docs], tmp_path / f"{prompt}.jsonl", settings)
    line = json.loads((tmp_path / "muc4_v3.jsonl").read_text())
    assert line["templates"][0]["PerpOrg"] == ["FMLN"] and line["templates"][0]["PerpInd"] == ["urban guerrillas"]
    assert [change["path"] for change in line["resolved"]] == ["templates[0].PerpInd", "templates[0].PerpOrg"]
    plain = json.loads((tmp_path / "plain_muc4.jsonl").read_text())
    assert plain["templates"][0]["PerpInd"] == ["urban guerrillas", "FMLN"] and "resolved" not in plain


def test_the_trained_files_are_part_of_the_schema_s_identity(tmp_path: Path) -> None:
    for name in ("muc4_v1.py", "muc4_v1.roles.json", "muc4_v1.types.json", "muc4_v1.relevance.json"):
        shutil.copy(ROOT / "schemas" / name, tmp_path / name)
    assert load_schema(str(tmp_path / "muc4_v1.py")).sha256 == MUC4.sha256
    roles = tmp_path / "muc4_v1.roles.json"
    roles.write_text(roles.read_text().replace('"share": 0.8', '"share": 0.9'))
    load_schema.cache_clear()
    assert load_schema(str(tmp_path / "muc4_v1.py")).sha256 != MUC4.sha256
    roles.unlink()
    load_schema.cache_clear()
    with pytest.raises(SchemaNotFound, match=r"names trained files that are not beside it: .*muc4_v1\.roles\.json"):
        load_schema(str(tmp_path / "muc4_v1.py"))


@pytest.mark.skipif(not TRAIN.is_file(), reason="the MUC-4 training split is not beside the checkout")
@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason='needs pip install "llm-extract[train]"')
def test_the_committed_files_are_what_the_training_script_makes(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = ROOT / "evals" / "muc4" / "train_stages.py"
    folders = ["--out-dir", str(tmp_path), "--pool-dir", str(tmp_path)]  # muc4_v4's example pool: the same script
    subprocess.run([sys.executable, str(script), "--source", str(TRAIN), *folders], check=True)
    for folder, name in (("schemas", "muc4_v1.roles.json"), ("schemas", "muc4_v1.types.json"),
                         ("schemas", "muc4_v1.relevance.json"), ("prompts", "muc4_v4.examples.jsonl")):  # fmt: skip
        assert (tmp_path / name).read_bytes() == (ROOT / folder / name).read_bytes(), name
