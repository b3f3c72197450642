"""Checks against the article's words: a claim no sentence states, a type the evidence has no word for, a town
filed as a site, a target named "unknown"; each change is kept on the line by resolve_records."""

from __future__ import annotations

from llm_extract.extraction.checks import check_claims, check_site, check_target_kinds, check_targets, check_type
from llm_extract.extraction.resolve import resolve_records
from llm_extract.extraction.schema_loader import load_schema
from tests.test_salvage import _incident

INCIDENT = load_schema("incident_v1")
TEXT = (
    "SAN SALVADOR, 2 MAY 90 (ACAN-EFE) -- A car bomb exploded outside the Sheraton Hotel. The FMLN claimed "
    "responsibility for the attack in a communique. COPREFA reported that two soldiers were wounded. "
    "The Zarate Wilka Armored Forces of Liberation admitted the killing of two missionaries."
)


def test_a_claimant_stays_only_where_a_sentence_naming_it_states_the_claim() -> None:
    record = _incident(claimed_by=["FMLN", "COPREFA"])
    assert check_claims(record, TEXT) == [
        ("claimed_by", ["FMLN"], "no sentence that names 'COPREFA' says it claimed the attack")
    ]
    # The name as grounding finds it (fuzzy), and "admitted" or "said it attacked" is a claim.
    assert check_claims(_incident(claimed_by=["Zarate Wilka Armed Forces of Liberation"]), TEXT) == []
    assert check_claims(_incident(claimed_by=["Kataib Hezbollah"]), "Kataib Hezbollah said it attacked a base.") == []
    unclaimed = TEXT.replace("claimed responsibility for the attack in a communique", "hit")
    assert check_claims(_incident(claimed_by=["FMLN"]), unclaimed) == [
        ("claimed_by", [], "no sentence that names 'FMLN' says it claimed the attack")
    ]


def test_a_type_without_words_in_its_evidence_is_retyped_from_them() -> None:
    bomb = _incident(sub_event_type="suicide_bomb", evidence=["A car bomb exploded outside the Sheraton Hotel."])
    assert check_type(bomb, TEXT) == [
        ("sub_event_type", "remote_explosive_landmine_ied",
         "neither its evidence nor its weapons give a word for suicide_bomb; its words are those of "
         "remote_explosive_landmine_ied")
    ]  # fmt: skip
    territory = _incident(sub_event_type="government_regains_territory")  # evidence: a civilian was killed
    assert check_type(territory, TEXT) == [
        ("sub_event_type", "attack",
         "neither its evidence nor its weapons give a word for government_regains_territory")
    ]  # fmt: skip


def test_a_type_its_weapons_bear_out_stays_and_weapons_type_an_unsupported_one() -> None:
    drone = {"type": "drone", "count": None, "text": None}
    assert check_type(_incident(sub_event_type="air_drone_strike", weapons=[drone]), TEXT) == []
    mortar = {"type": "mortar", "count": None, "text": None}
    assert check_type(_incident(sub_event_type="suicide_bomb", weapons=[mortar]), TEXT)[0][1] == (
        "shelling_artillery_missile_attack"
    )
    assert check_type(_incident(sub_event_type="attack"), TEXT) == []  # "attack" needs no words


def test_a_town_or_country_filed_as_the_site_is_no_site() -> None:
    def place(**parts: str | None) -> dict[str, object]:
        return {"site": None, "town": None, "region": None, "country": "SV", "precision": "site"} | parts

    assert check_site(place(site="San Salvador"), TEXT) == [
        ("site", None, "a town, not a site"), ("town", "San Salvador", "the site was a town")
    ]  # fmt: skip
    assert check_site(place(site="San Salvador", town="Soyapango"), TEXT) == [("site", None, "a town, not a site")]
    assert check_site(place(site="Usulutan", region="Usulutan"), TEXT) == [
        ("site", None, "the record's town or region, not a site")
    ]
    assert check_site(place(site="Panama"), TEXT) == [("site", None, "a country, not a site")]
    assert check_site(place(site="Sheraton Hotel"), TEXT) == []


def test_a_target_named_unknown_is_dropped() -> None:
    targets = [{"name": "unknown", "kind": "civilian"}, {"name": "two soldiers", "kind": "military"}]
    assert check_targets(_incident(targets=targets), TEXT) == [
        ("targets", targets[1:], "a target named as unknown names none")
    ]


def test_a_target_of_unknown_kind_gets_the_kind_its_words_give() -> None:
    targets = [{"name": "a police patrol", "kind": "unknown"}, {"name": "peasants", "kind": "unknown"},
               {"name": "the power substation", "kind": "unknown"}, {"name": "Gutierrez", "kind": "unknown"},
               {"name": "soldiers", "kind": "civilian"}]  # fmt: skip
    [(key, stored, why)] = check_target_kinds(_incident(targets=targets), TEXT)
    assert key == "targets" and [target["kind"] for target in stored] == [
        "police", "civilian", "infrastructure", "unknown", "civilian"
    ], "a name without kind words stays unknown; a kind the model gave is not second-guessed"  # fmt: skip
    assert why.startswith("the kind its words give: 'a police patrol' is police")
    assert check_target_kinds(_incident(), TEXT) == []  # "civilian" already


def test_resolve_records_keeps_each_check_s_change_on_the_line() -> None:
    record = _incident(
        sub_event_type="suicide_bomb",
        claimed_by=["COPREFA"],
        location={"site": "San Salvador", "town": None, "region": None, "country": "SY", "precision": "site"},
        evidence=["A car bomb exploded outside the Sheraton Hotel."],
    )
    changes = {change.path: change for change in resolve_records([record], TEXT, INCIDENT)}
    assert record["location"]["town"] == "San Salvador" and record["location"]["site"] is None
    assert record["location"]["country"] == "SV"  # the site moved to the town first, which places the record
    assert record["claimed_by"] == [] and record["sub_event_type"] == "remote_explosive_landmine_ied"
    assert {"incidents[0].location.site", "incidents[0].location.town", "incidents[0].location.country",
            "incidents[0].claimed_by", "incidents[0].sub_event_type"} <= set(changes)  # fmt: skip
    assert changes["incidents[0].claimed_by"].given == ["COPREFA"]
