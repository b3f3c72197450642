"""The scorer: comparators, optimal alignment, counting, and its invariants (hypothesis)."""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_extract.scoring.fields import (
    Counts,
    FieldSpec,
    ScoringConfig,
    compare_field,
    compare_incidents,
    normalise_name,
    pair_agrees,
    reference_score_document,
    score,
    score_document,
)
from llm_extract.scoring.suite import load_suite

CONFIG = load_suite("seeds").scoring


def spec(path: str, kind: str, **kw: Any) -> FieldSpec:
    return FieldSpec(path=path, kind=kind, **kw)  # type: ignore[arg-type]


def test_names_normalise_and_fuzzy_match_against_aliases() -> None:
    assert normalise_name("The  Al-Asad Air-Base") == "al asad air base"
    site = spec("location.site", "name")
    gold = {"location": {"site": ["al-Asad airbase", "Ain al-Asad"]}}
    for predicted, verdict in [
        ("Al Asad Airbase", "correct"),
        ("Ain al-Assad", "correct"),  # fuzzy
        ("al-Harir airbase", "wrong"),
        (None, "missed"),
    ]:
        assert compare_field(site, gold, {"location": {"site": predicted}}, 85).verdict == verdict, predicted
    assert compare_field(site, {"location": {"site": None}}, {"location": {"site": "x"}}, 85).verdict == "spurious"
    assert compare_field(site, {"location": {"site": [None, "x"]}}, {"location": {"site": None}}, 85).verdict == "empty"


def test_numbers_exact_or_in_range_and_dates_at_gold_precision() -> None:
    count = spec("n", "number")
    assert compare_field(count, {"n": {"range": [1, 5]}}, {"n": 3}, 85).verdict == "correct"
    assert compare_field(count, {"n": {"range": [1, 5]}}, {"n": 6}, 85).verdict == "wrong"
    assert compare_field(count, {"n": 0}, {"n": 0}, 85).verdict == "correct"
    date = spec("date.start", "date", precision_path="date.precision")
    gold_month = {"date": {"start": "2023-10-01", "precision": "month"}}
    assert compare_field(date, gold_month, {"date": {"start": "2023-10-18"}}, 85).verdict == "correct"
    assert compare_field(date, gold_month, {"date": {"start": "2023-11-01"}}, 85).verdict == "wrong"
    gold_day = {"date": {"start": "2023-10-18", "precision": "day"}}
    assert compare_field(date, gold_day, {"date": {"start": "2023-10-17"}}, 85).verdict == "wrong"


def test_sets_match_one_to_one() -> None:
    claimed = spec("claimed_by[]", "name_set")
    gold = {"claimed_by": [["Islamic Resistance in Iraq", "IRI"], ["Kataib Hezbollah"]]}
    result = compare_field(claimed, gold, {"claimed_by": ["islamic resistance in iraq", "IRI", "Hamas"]}, 85)
    # "IRI" repeats a group already matched (both are aliases of one gold item): one TP, one FP (Hamas), one FN
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == (1, 2, 1)
    weapons = spec("weapons[].type", "enum_set")
    result = compare_field(weapons, {"weapons": [{"type": "drone"}]}, {"weapons": [{"type": "drone"}] * 2}, 85)
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == (1, 0, 0), "a repeated value is one claim"


INCIDENT_A = {
    "id": "a", "role": "main", "sub_event_type": "air_drone_strike", "weapons": [{"type": "drone"}],
    "date": {"start": "2023-10-18", "precision": "day"},
    "location": {"site": "al-Asad airbase", "town": None, "region": "western Iraq", "country": "IQ"},
    "perpetrators": [{"name": "Islamic Resistance in Iraq", "attribution": "claimed"}],
    "claimed_by": ["Islamic Resistance in Iraq"], "targets": [{"kind": "military"}],
    "outcome": {"intercepted": True},
    "casualties": {"killed": {"min": None, "max": None}, "injured": {"min": 1, "max": None}},
}  # fmt: skip
INCIDENT_B = {
    **copy.deepcopy(INCIDENT_A), "id": "b",
    "location": {"site": "al-Harir airbase", "town": None, "region": "northern Iraq", "country": "IQ"},
    "casualties": {"killed": {"min": None, "max": None}, "injured": {"min": None, "max": None}},
    "outcome": {"intercepted": None},
}  # fmt: skip
INCIDENT_C = {
    "id": "c", "role": "background", "sub_event_type": "attack", "weapons": [{"type": "firearms"}],
    "date": {"start": "2023-10-07", "precision": "day"},
    "location": {"site": None, "town": None, "region": "southern Israel", "country": "IL"},
    "perpetrators": [{"name": "Hamas", "attribution": "confirmed"}], "claimed_by": [],
    "targets": [{"kind": "civilian"}], "outcome": {"intercepted": None},
    "casualties": {"killed": {"min": 1400, "max": None}, "injured": {"min": None, "max": None}},
}  # fmt: skip
GOLD = [INCIDENT_A, INCIDENT_B, INCIDENT_C]


def test_alignment_pairs_the_right_incidents_whatever_the_order() -> None:
    predicted = [copy.deepcopy(INCIDENT_C), copy.deepcopy(INCIDENT_B), copy.deepcopy(INCIDENT_A)]
    predicted[1]["location"]["site"] = "Harir air base"  # a near miss still aligns to b
    document = score_document(CONFIG, "d", GOLD, predicted)
    assert {(pair.gold_id, pair.pred_index) for pair in document.pairs} == {("c", 0), ("b", 1), ("a", 2)}
    assert document.incidents.f1 == 1.0


def test_a_wrong_value_costs_precision_and_recall_and_an_unmatched_gold_costs_its_values() -> None:
    predicted = copy.deepcopy(INCIDENT_A)
    predicted["date"]["start"] = "2023-10-17"
    document = score_document(CONFIG, "d", [INCIDENT_A, INCIDENT_C], [predicted])
    assert document.fields["date.start"] == Counts(tp=0, fp=1, fn=2)  # wrong for a, missed for c
    assert document.incidents == Counts(tp=1, fp=0, fn=1)
    assert [gold_id for gold_id, _ in document.missed] == ["c"]


def test_optional_gold_is_not_missed_and_unrelated_prediction_is_spurious() -> None:
    optional_c = {**INCIDENT_C, "optional": True}
    unrelated = {**copy.deepcopy(INCIDENT_C), "id": "x", "sub_event_type": "abduction_forced_disappearance",
                 "location": {"site": "Kauru", "town": None, "region": "Kaduna", "country": "NG"},
                 "date": {"start": "2021-01-01", "precision": "day"}, "perpetrators": [], "weapons": [],
                 "targets": [], "casualties": {"killed": {"min": None, "max": None},
                                               "injured": {"min": None, "max": None}}}  # fmt: skip
    document = score_document(CONFIG, "d", [INCIDENT_A, optional_c], [copy.deepcopy(INCIDENT_A), unrelated])
    assert document.incidents == Counts(tp=1, fp=1, fn=0)
    assert document.missed == []


def test_main_scope_ignores_background() -> None:
    main_only = dataclasses.replace(CONFIG, scope="main")
    document = score_document(main_only, "d", GOLD, [copy.deepcopy(INCIDENT_A)])
    assert document.incidents == Counts(tp=1, fp=0, fn=1)  # b missed; background c out of scope


def test_a_document_missing_from_the_run_misses_everything() -> None:
    result = score(CONFIG, {"d": GOLD}, {})
    assert result.incidents == Counts(tp=0, fp=0, fn=3)
    assert result.micro.tp == 0 and result.micro.fn > 0


# ---- accepted-but-not-required values, open ranges, date ranges ------------------------------


def test_open_number_ranges_and_date_ranges() -> None:
    count = spec("n", "number")
    assert compare_field(count, {"n": {"range": [2, None]}}, {"n": 40}, 85).verdict == "correct"  # PLURAL
    assert compare_field(count, {"n": {"range": [2, None]}}, {"n": 1}, 85).verdict == "wrong"
    date = spec("date.start", "date", precision_path="date.precision")
    night = {"date": {"start": {"range": ["1990-03-31", "1990-04-01"]}, "precision": "day"}}
    assert compare_field(date, night, {"date": {"start": "1990-04-01"}}, 85).verdict == "correct"
    assert compare_field(date, night, {"date": {"start": "1990-04-02"}}, 85).verdict == "wrong"
    before = {"date": {"start": [None, {"range": [None, "1989-12-06"]}]}}  # on or before, or not said
    assert compare_field(date, before, {"date": {"start": "1989-11-30"}}, 85).verdict == "correct"
    assert compare_field(date, before, {"date": {"start": "1989-12-07"}}, 85).verdict == "spurious"
    assert compare_field(date, before, {"date": {"start": None}}, 85).verdict == "empty"


def test_an_optional_list_element_is_credited_when_found_and_never_missed() -> None:
    names = spec("perpetrators[].name", "name_set")
    kinds = spec("perpetrators[].attribution", "enum_set")
    gold = {"perpetrators": [
        {"name": ["FMLN"], "attribution": "claimed"},
        {"name": ["URBAN COMMANDOS"], "attribution": ["suspected", "unknown"], "optional": True},
        {"name": ["GUERRILLAS"], "attribution": ["suspected", "claimed"], "optional": ["attribution"]},
    ]}  # fmt: skip
    found = {"perpetrators": [{"name": "FMLN", "attribution": "claimed"}, {"name": "Guerrillas", "attribution": "x"}]}
    result = compare_field(names, gold, found, 85)
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == (2, 0, 0), "the optional commandos not missed"
    both = {"perpetrators": [*found["perpetrators"], {"name": "urban commandos", "attribution": "suspected"}]}
    result = compare_field(names, gold, both, 85)
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == (3, 0, 0), "found, it is credited"
    # attribution: required only for FMLN; an optional value is an element of its own beside the required one
    result = compare_field(kinds, gold, both, 85)
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == (2, 1, 0)  # claimed, suspected; 'x' is wrong
    alone = compare_field(names, gold, {"perpetrators": []}, 85)
    assert (alone.counts.tp, alone.counts.fp, alone.counts.fn) == (0, 0, 2)  # FMLN and the guerrillas' names
    plain = spec("claimed_by[]", "name_set")  # a plain element written {"optional": aliases}
    result = compare_field(plain, {"claimed_by": [["FMLN"], {"optional": ["ERP"]}]}, {"claimed_by": ["FMLN"]}, 85)
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == (1, 0, 0)


def test_a_required_element_is_never_traded_for_an_optional_one() -> None:
    names = spec("targets[].name", "name_set")
    gold = {"targets": [{"name": ["peasants"], "optional": True}, {"name": ["peasant"]}]}
    result = compare_field(names, gold, {"targets": [{"name": "peasant"}]}, 85)
    assert (result.counts.tp, result.counts.fp, result.counts.fn) == (1, 0, 0)


# ---- a date and its precision are scored together -------------------------------------------


def test_a_right_precision_beside_a_wrong_start_is_wrong() -> None:
    gold = copy.deepcopy(INCIDENT_A)
    wrong_day = copy.deepcopy(INCIDENT_A)
    wrong_day["date"]["start"] = "2023-10-11"
    fields = {r.path: r for r in compare_incidents(CONFIG, gold, wrong_day)}
    assert fields["date.start"].verdict == "wrong"
    assert fields["date.precision"].verdict == "wrong" and fields["date.precision"].counts == Counts(fp=1, fn=1)
    no_day = copy.deepcopy(INCIDENT_A)
    no_day["date"]["start"] = None
    fields = {r.path: r for r in compare_incidents(CONFIG, gold, no_day)}
    assert fields["date.start"].verdict == "missed" and fields["date.precision"].verdict == "wrong"
    right = {r.path: r for r in compare_incidents(CONFIG, gold, copy.deepcopy(INCIDENT_A))}
    assert right["date.precision"].verdict == "correct"
    both_empty = {**copy.deepcopy(INCIDENT_A), "date": {"start": None, "precision": "unknown"}}
    fields = {r.path: r for r in compare_incidents(CONFIG, both_empty, copy.deepcopy(both_empty))}
    assert fields["date.start"].verdict == "empty" and fields["date.precision"].verdict == "correct"


# ---- a copied record is never credited as another incident ----------------------------------


def test_key_fields_must_not_contradict_for_a_pair_to_align() -> None:
    assert pair_agrees(CONFIG, INCIDENT_B, copy.deepcopy(INCIDENT_B))
    assert not pair_agrees(CONFIG, INCIDENT_B, copy.deepcopy(INCIDENT_A)), "another site"
    longer = copy.deepcopy(INCIDENT_A)
    longer["location"]["site"] = "al-Asad airbase in western Iraq"  # the same site in more words
    assert pair_agrees(CONFIG, INCIDENT_A, longer)
    two_days_off = copy.deepcopy(INCIDENT_A)
    two_days_off["date"]["start"] = "2023-10-16"
    assert not pair_agrees(CONFIG, INCIDENT_A, two_days_off), "two days from a required day"
    one_day_off = copy.deepcopy(INCIDENT_A)
    one_day_off["date"]["start"] = "2023-10-17"
    assert pair_agrees(CONFIG, INCIDENT_A, one_day_off), "within date_tolerance_days"
    unanchored = {**copy.deepcopy(INCIDENT_A), "date": {"start": ["2023-10-18", None], "precision": ["day", "unknown"]}}
    assert pair_agrees(CONFIG, unanchored, two_days_off), "gold accepts no date: the article does not fix the day"
    no_site = copy.deepcopy(INCIDENT_A)
    no_site["location"]["site"] = None
    assert pair_agrees(CONFIG, INCIDENT_B, no_site), "an empty side sets no condition"


def test_a_record_copied_from_one_incident_is_not_credited_as_another() -> None:
    """Two drone attacks on one day: the extractor reports al-Asad twice. Before key fields, the copy aligned
    with al-Harir (similarity well above the floor) and earned its shared fields."""
    copies = [copy.deepcopy(INCIDENT_A), copy.deepcopy(INCIDENT_A)]
    document = score_document(CONFIG, "d", [INCIDENT_A, INCIDENT_B], copies)
    assert [pair.gold_id for pair in document.pairs] == ["a"]
    assert document.incidents == Counts(tp=1, fp=1, fn=1)
    assert document == reference_score_document(CONFIG, "d", [INCIDENT_A, INCIDENT_B], copies)
    loose = dataclasses.replace(CONFIG, key_fields=())
    assert {p.gold_id for p in score_document(loose, "d", [INCIDENT_A, INCIDENT_B], copies).pairs} == {"a", "b"}
    assert dataclasses.replace(CONFIG, key_fields=["date.start"]).key_fields == ("date.start",)  # a TOML list
    assert isinstance(CONFIG, ScoringConfig) and CONFIG.key_fields == ("location.site", "date.start")


def test_matched_counts_leave_out_missed_and_spurious_incidents() -> None:
    unrelated = {**copy.deepcopy(INCIDENT_C), "date": {"start": "2020-01-01", "precision": "day"}}
    result = score(CONFIG, {"d": [INCIDENT_A, INCIDENT_B]}, {"d": [copy.deepcopy(INCIDENT_A), unrelated]})
    assert result.matched.fp == 0 and result.matched.fn == 0 and result.matched.tp > 0
    assert result.micro.fn > 0 and result.micro.fp > 0


# ---- properties -----------------------------------------------------------------------------

SITES = ["al-Asad airbase", "al-Harir airbase", "Erbil airport", "Kirkuk base", "Baghdad embassy", None]
TYPES = ["air_drone_strike", "shelling_artillery_missile_attack", "armed_clash", "attack"]


@st.composite
def incidents(draw: st.DrawFn, ident: str) -> dict[str, Any]:
    day = draw(st.integers(1, 28))
    return {
        "id": ident,
        "role": draw(st.sampled_from(["main", "background"])),
        "sub_event_type": draw(st.sampled_from(TYPES)),
        "weapons": [{"type": t} for t in draw(st.lists(st.sampled_from(["drone", "rocket", "missile"]), max_size=2))],
        "date": {"start": f"2023-10-{day:02d}", "precision": "day"},
        "location": {"site": draw(st.sampled_from(SITES)), "town": None, "region": None, "country": "IQ"},
        "perpetrators": [], "claimed_by": draw(st.lists(st.sampled_from(["IRI", "Kataib Hezbollah"]), max_size=2)),
        "targets": [{"kind": "military"}], "outcome": {"intercepted": draw(st.sampled_from([True, False, None]))},
        "casualties": {"killed": {"min": draw(st.sampled_from([None, 0, 2])), "max": None},
                       "injured": {"min": None, "max": None}},
    }  # fmt: skip


@st.composite
def gold_documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 4))
    return [draw(incidents(f"g{i}")) for i in range(count)]


@settings(max_examples=60, deadline=None)
@given(gold_documents())
def test_gold_against_itself_is_perfect(gold: list[dict[str, Any]]) -> None:
    result = score(CONFIG, {"d": gold}, {"d": copy.deepcopy(gold)})
    assert result.incidents.f1 == 1.0
    assert result.micro.fp == 0 and result.micro.fn == 0
    assert all(counts.f1 == 1.0 for counts in result.fields.values())


@settings(max_examples=60, deadline=None)
@given(gold_documents(), gold_documents(), st.randoms(use_true_random=False))
def test_scores_do_not_depend_on_incident_order(gold: list, predicted: list, rng: random.Random) -> None:
    first = score(CONFIG, {"d": gold}, {"d": predicted})
    shuffled_gold, shuffled_pred = gold[:], predicted[:]
    rng.shuffle(shuffled_gold)
    rng.shuffle(shuffled_pred)
    second = score(CONFIG, {"d": shuffled_gold}, {"d": shuffled_pred})
    assert (first.incidents, first.micro) == (second.incidents, second.micro)


@settings(max_examples=60, deadline=None)
@given(gold_documents())
def test_a_spurious_incident_lowers_precision_and_leaves_recall(gold: list[dict[str, Any]]) -> None:
    base = score(CONFIG, {"d": gold}, {"d": copy.deepcopy(gold)})
    extra = {"id": "x", "role": "main", "sub_event_type": "sexual_violence", "weapons": [{"type": "melee"}],
             "date": {"start": "1999-01-01", "precision": "day"},
             "location": {"site": "Nowhere", "town": "Nowhere", "region": "Nowhere", "country": "NZ"},
             "perpetrators": [], "claimed_by": [], "targets": [{"kind": "civilian"}], "outcome": {"intercepted": None},
             "casualties": {"killed": {"min": None, "max": None}, "injured": {"min": None, "max": None}}}  # fmt: skip
    worse = score(CONFIG, {"d": gold}, {"d": [*copy.deepcopy(gold), extra]})
    assert worse.incidents.precision < base.incidents.precision and worse.micro.precision < base.micro.precision
    assert worse.incidents.recall == base.incidents.recall and worse.micro.recall == base.micro.recall


@settings(max_examples=60, deadline=None)
@given(gold_documents().filter(lambda g: len(g) >= 2), st.data())
def test_removing_an_incident_lowers_recall_and_leaves_precision(
    gold: list[dict[str, Any]], data: st.DataObject
) -> None:
    base = score(CONFIG, {"d": gold}, {"d": copy.deepcopy(gold)})
    dropped = data.draw(st.integers(0, len(gold) - 1))
    fewer = [copy.deepcopy(g) for i, g in enumerate(gold) if i != dropped]
    worse = score(CONFIG, {"d": gold}, {"d": fewer})
    assert worse.incidents.recall < base.incidents.recall
    assert worse.incidents.precision == base.incidents.precision == 1.0
    assert worse.micro.precision == base.micro.precision
