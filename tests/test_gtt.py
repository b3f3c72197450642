"""The GTT template metric on hand-computed cases, and its pairing search against brute force."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llm_extract.api import evaluate_suite
from llm_extract.cli import app
from llm_extract.core.config import load_settings
from llm_extract.scoring import gtt
from llm_extract.scoring.suite import load_suite
from llm_extract.testing.fake_openai import FakeOpenAI


def template(incident_type: str, **roles: list[list[str]]) -> dict[str, Any]:
    return {"incident_type": incident_type, **{role: roles.get(role, []) for role in gtt.ROLES}}


def score_one(pred: list[dict[str, Any]], gold: list[dict[str, Any]]) -> gtt.DocumentResult:
    return gtt.score_document("doc", gtt.parse_predictions(pred), gtt.parse_gold(gold))


def test_normalisation_drops_case_punctuation_and_articles() -> None:
    assert gtt.normalise('The "Santo Tomas"  Presidential Farm.') == "santo tomas presidential farm"
    assert gtt.normalise("an FMLN unit, a bomb") == "fmln unit bomb"
    assert gtt.normalise("theatre") == "theatre"  # articles only as whole words


def test_gold_against_gold_is_perfect_on_the_whole_development_split() -> None:
    gold = gtt.load_gold(load_suite("muc4").gold_path)
    result = gtt.score_corpus(gold, gold)
    assert len(result.documents) == 200
    assert result.micro.precision == result.micro.recall == result.micro.f1 == 1.0
    assert result.micro.r_den == 731  # 181 distinct templates and 550 gold entities


def test_empty_prediction_against_gold_scores_zero_with_every_gold_filler_missed() -> None:
    gold = [template("attack", PerpInd=[["guerrillas", "guerrilla column"]], Victim=[["cerezo"]])]
    result = score_one([], gold)
    assert (result.micro.p_num, result.micro.p_den, result.micro.r_num, result.micro.r_den) == (0, 0, 0, 3)
    assert result.micro.f1 == 0.0


def test_a_predicted_mention_matches_any_of_the_gold_alternatives_after_normalisation() -> None:
    gold = [template("attack", PerpInd=[["guerrillas", "guerrilla column"]], Victim=[["cerezo"]])]
    result = score_one([template("attack", PerpInd=[["The Guerrilla Column."]], Victim=[["president cerezo"]])], gold)
    assert result.counts["PerpInd"].p_num == result.counts["PerpInd"].r_num == 1
    assert result.counts["Victim"].p_num == result.counts["Victim"].r_num == 0  # not a listed mention
    assert (result.micro.p_num, result.micro.p_den, result.micro.r_num, result.micro.r_den) == (2, 3, 2, 3)


def test_each_gold_entity_is_found_once_however_many_predictions_match_it() -> None:
    gold = [template("attack", PerpInd=[["guerrillas", "guerrilla column"]])]
    result = score_one([template("attack", PerpInd=[["guerrillas"], ["guerrilla column"]])], gold)
    # As in the reference: both predictions are correct (precision 2/2), the gold entity is found once (1/1).
    assert (result.counts["PerpInd"].p_num, result.counts["PerpInd"].p_den) == (2, 2)
    assert (result.counts["PerpInd"].r_num, result.counts["PerpInd"].r_den) == (1, 1)


def test_our_records_count_a_repeated_filler_once() -> None:
    [ours] = gtt.templates_from_records([{"incident_type": "attack", "PerpInd": ["Guerrillas", "guerrillas."]}])
    assert ours.roles["PerpInd"] == (("guerrillas",),)


def test_a_multi_mention_prediction_is_correct_only_if_every_mention_is_gold() -> None:
    gold = [template("bombing", Weapon=[["car bomb", "bomb"]])]
    assert score_one([template("bombing", Weapon=[["bomb", "car bomb"]])], gold).counts["Weapon"].p_num == 1
    assert score_one([template("bombing", Weapon=[["bomb", "dynamite"]])], gold).counts["Weapon"].p_num == 0


def test_multi_template_document_hand_computed() -> None:
    gold = [
        template("bombing", Target=[["embassy"]], PerpOrg=[["fmln"]]),
        template("kidnapping", Victim=[["john smith", "smith"]]),
    ]
    pred = [
        template("kidnapping", Victim=[["smith"]]),
        template("bombing", Target=[["the embassy"]], PerpOrg=[["shining path"]]),
        template("attack", Victim=[["mayor"]]),  # spurious: no attack in the gold
    ]
    result = score_one(pred, gold)
    assert result.pairing == [1, 0, -1]
    assert result.paired == [(0, 1), (1, 0)]
    it = result.counts["incident_type"]
    assert (it.p_num, it.p_den, it.r_num, it.r_den) == (2, 3, 2, 2)
    assert (result.counts["Victim"].p_num, result.counts["Victim"].p_den) == (1, 2)
    assert (result.counts["PerpOrg"].p_num, result.counts["PerpOrg"].r_den) == (0, 1)
    # Predicted fillers 3 types + 1 + 1 + 2 = 7, correct 2 + 1 (embassy) + 1 (smith) = 4; gold 2 + 3 = 5, found 4.
    assert (result.micro.p_num, result.micro.p_den, result.micro.r_num, result.micro.r_den) == (4, 7, 4, 5)
    assert result.micro.f1 == pytest.approx(2 / 3)


def test_pairing_maximises_the_document_f1_not_the_first_type_match() -> None:
    gold = [template("attack", Victim=[["peasants"]]), template("attack", Victim=[["mayor"]], Target=[["town hall"]])]
    result = score_one([template("attack", Victim=[["mayor"]], Target=[["town hall"]])], gold)
    assert result.pairing == [1]
    assert (result.micro.p_num, result.micro.p_den, result.micro.r_num, result.micro.r_den) == (3, 3, 3, 5)
    assert result.micro.f1 == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("pred_type", "gold_type", "pairs"),
    [
        ("bombing", "attack / bombing", True),
        ("attack", "attack / bombing", True),
        ("attack", "bombing / attack", True),
        ("kidnapping", "attack / bombing", False),
        ("arson", "attack", False),
    ],
)
def test_incident_types_must_agree_and_a_two_type_gold_accepts_either(
    pred_type: str, gold_type: str, pairs: bool
) -> None:
    result = score_one([template(pred_type, Weapon=[["bomb"]])], [template(gold_type, Weapon=[["bomb"]])])
    assert (result.micro.f1 == 1.0) is pairs
    if not pairs:  # unpaired: all predicted fillers spurious, all gold fillers missed
        assert (result.micro.p_num, result.micro.p_den, result.micro.r_num, result.micro.r_den) == (0, 2, 0, 2)


def test_templates_for_a_document_without_incidents_are_all_spurious() -> None:
    result = score_one([template("attack", PerpInd=[["gunmen"]], Victim=[["two policemen"]])], [])
    assert (result.micro.p_num, result.micro.p_den, result.micro.r_den) == (0, 3, 0)


def test_corpus_counts_are_summed_before_the_micro_average() -> None:
    gold = {"d1": gtt.parse_gold([template("attack", Victim=[["mayor"]])]), "d2": gtt.parse_gold([])}
    preds = {"d1": gtt.parse_predictions([template("attack", Victim=[["mayor"]])]),
             "d2": gtt.parse_predictions([template("arson", Target=[["bus"]])])}  # fmt: skip
    result = gtt.score_corpus(preds, gold)
    assert (result.micro.p_num, result.micro.p_den, result.micro.r_num, result.micro.r_den) == (2, 4, 2, 2)
    assert result.micro.f1 == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_published_ids_and_muc_ids_name_the_same_document() -> None:
    assert gtt.doc_key("TST3-MUC4-0012") == "30012"
    assert gtt.doc_key("TST1-MUC3-0100") == "10100"
    gold = {"TST3-MUC4-0012": gtt.parse_gold([template("attack", Victim=[["mayor"]])])}
    result = gtt.score_corpus({"30012": gtt.parse_predictions([template("attack", Victim=[["mayor"]])])}, gold)
    assert result.micro.f1 == 1.0 and result.missing == []
    assert gtt.score_corpus({}, gold).missing == ["TST3-MUC4-0012"]


def test_gold_in_gtt_processed_form_with_offsets_and_duplicates(tmp_path: Path) -> None:
    row = {"docid": "TST3-MUC4-0001", "templates": [
        {"incident_type": "attack", "PerpInd": [[["guerrillas", 12], ["rebels", 80]], []], "PerpOrg": [],
         "Target": [], "Victim": [], "Weapon": []},
    ] * 2}  # fmt: skip
    path = tmp_path / "test.json"
    path.write_text(json.dumps(row) + "\n")
    gold = gtt.load_gold(path)
    [only] = gold["TST3-MUC4-0001"]  # the repeated template once; the empty entity dropped
    assert only.roles["PerpInd"] == (("guerrillas", "rebels"),)


def test_prediction_files_in_benchmark_and_published_forms(tmp_path: Path) -> None:
    plain, published = tmp_path / "plain.json", tmp_path / "preds.out"
    plain.write_text(json.dumps({"TST1-MUC3-0001": [template("attack", PerpInd=[["guerrillas"]])]}))
    published.write_text(json.dumps({"10001": {"doctext": "...", "pred_templates": [template("arson")],
                                               "gold_templates": []}}))  # fmt: skip
    assert gtt.load_prediction_json(plain)["TST1-MUC3-0001"][0].roles["PerpInd"] == (("guerrillas",),)
    assert gtt.load_prediction_json(published)["10001"][0].incident_type == "arson"
    run = tmp_path / "run.jsonl"
    run.write_text('{"doc_id": "a", "status": "ok", "templates": []}\n')
    assert gtt.load_prediction_json(run) is None  # JSON Lines: an llm-extract run, read by the runner's loader
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(gtt.TemplateFormatError, match="expected a JSON object"):
        gtt.load_prediction_json(tmp_path / "bad.json")


def brute_force(preds: list[gtt.Template], golds: list[gtt.Template]) -> list[int]:
    """The reference's search, literally: every pairing in itertools.product order, first strictly best kept."""
    denominators = gtt._denominators(preds, golds)
    p_den = sum(c.p_den for c in denominators.values())
    r_den = sum(c.r_den for c in denominators.values())
    best, best_pairing = None, None
    for pairing in itertools.product([*range(len(golds)), -1], repeat=len(preds)):
        used = [j for j in pairing if j != -1]
        if len(used) != len(set(used)):
            continue
        p_num = r_num = 0
        for i, j in enumerate(pairing):
            if j != -1:
                cell = gtt.pair_counts(preds[i], golds[j])
                p_num += sum(c.p_num for c in cell.values())
                r_num += sum(c.r_num for c in cell.values())
        value = gtt.f1_score(p_num / p_den if p_num else 0.0, r_num / r_den if r_num else 0.0)
        if best is None or value > best:
            best, best_pairing = value, list(pairing)
    return best_pairing or []


MENTIONS = st.sampled_from(["guerrillas", "fmln", "bomb", "mayor", "bus", "police", "army"])
TEMPLATES = st.builds(
    lambda kind, roles: template(kind, **roles),
    st.sampled_from(["attack", "bombing", "kidnapping", "attack / bombing"]),
    st.fixed_dictionaries(
        {role: st.lists(st.lists(MENTIONS, min_size=1, max_size=2), max_size=2) for role in gtt.ROLES}
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(TEMPLATES, max_size=4), st.lists(TEMPLATES, max_size=4))
def test_pruned_search_picks_the_same_pairing_as_the_reference_enumeration(pred: list, gold: list) -> None:
    preds = gtt.parse_predictions(pred)
    golds = gtt.parse_gold(gold)
    assert gtt.score_document("doc", preds, golds).pairing == brute_force(preds, golds)


def test_eval_command_scores_a_template_json_against_another_gold(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"doc_id": "TST3-MUC4-0001", "templates": [template("kidnapping", Victim=[["mayor"]])]}))
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({"30001": [template("kidnapping", Victim=[["the mayor"]], PerpInd=[["gunmen"]])]}))
    outcome = evaluate_suite("muc4", run=preds, gold=gold, out_dir=tmp_path / "out")
    assert outcome.report["gtt"]["micro"] | {} == {
        "precision": 0.6667, "recall": 1.0, "f1": 0.8, "p_num": 2, "p_den": 3, "r_num": 2, "r_den": 2,
    }  # fmt: skip
    markdown = outcome.report_md.read_text()
    assert "✓ Victim: mayor" in markdown and "✗ PerpInd: gunmen" in markdown


def test_another_split_in_gtt_form_is_extracted_and_scored(tmp_path: Path) -> None:
    """GTT's processed files (docid, doctext, templates with offsets) serve as both documents and gold."""
    rows = [
        {"docid": "TST3-MUC4-0001", "doctext": "a bomb exploded at the bank.",
         "templates": [template("bombing", Target=[[["bank", 24]]], Weapon=[[["bomb", 2]]])]},
        {"docid": "TST3-MUC4-0002", "doctext": "the talks went on.", "templates": []},
    ]  # fmt: skip
    split = tmp_path / "test.jsonl"
    split.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with FakeOpenAI(answer=json.dumps({"templates": []})) as fake:
        settings = load_settings(
            base_url=fake.base_url, model="fake", schema_name="muc4_v1", prompt_name="muc4_v1", cache_dir=tmp_path
        )
        outcome = evaluate_suite("muc4", settings, documents=split, gold=split, out_dir=tmp_path / "out")
    report = outcome.report
    assert report["run"]["statuses"]["ok"] == 2 and report["documents_scored"] == 2
    assert report["gtt"]["micro"]["r_den"] == 3 and report["gtt"]["micro"]["r_num"] == 0  # type, bank, bomb missed


def test_cli_scores_the_gold_itself_as_a_prediction_file(tmp_path: Path) -> None:
    """The gold's 191 templates as predictions: 10 repeat another template of their document, which the
    reference's gold loading keeps once, so they are spurious: 731 of 760 predicted fillers are correct."""
    rows = [json.loads(line) for line in load_suite("muc4").gold_path.read_text().splitlines()]
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({row["doc_id"]: row["templates"] for row in rows}))
    result = CliRunner().invoke(app, ["eval", "muc4", "--run", str(preds), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "GTT metric, 200 documents" in result.output and "PerpInd" in result.output
    micro = json.loads((tmp_path / "out" / "report.json").read_text())["gtt"]["micro"]
    assert (micro["p_num"], micro["p_den"], micro["r_num"], micro["r_den"]) == (731, 760, 731, 731)
