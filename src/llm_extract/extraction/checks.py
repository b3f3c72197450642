"""Checks of what a record says against the article's words: a claim the article does not state, a type its
evidence gives no word of, a town filed as a site, a target named "unknown" or of a kind its words give.

A 1.5B model fills these from its priors: on muc4-incidents the plain call's answers put the reporting agency,
the victims or the government under `claimed_by` (106 of 112 claimants wrong on matched incidents), typed car
bombs and shootings in 1989 Bogota as suicide bombings or "government_regains_territory", and filed towns
("San Salvador") as sites. Each check changes a value only where the article (or the record's own evidence)
gives no word for it, and returns the change with its reason for `resolve.resolve_records` to keep on the line.
What each did: docs/results.md ("Checks against the article's words").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from llm_extract.core.text import fold_name
from llm_extract.extraction.grounding import locate as ground
from llm_extract.extraction.normalize.countries import countries_named
from llm_extract.extraction.normalize.gazetteer import gazetteer
from llm_extract.inputs.sentences import split_sentences

Change = tuple[str, Any, str]  # (key of the node, new value, why)

# A claim as news writes it: "claimed responsibility", "took responsibility", "admitted", "in a communique", "said
# it attacked", "said its fighters launched".
CLAIM_WORDS = re.compile(
    r"\bclaim(?:ed|s|ing)?\b|\b(?:assum|accept|t[ao]k)\w* (?:full |the )?responsibility|\badmit\w*|\bcommuniqu"
    r"|\b(?:said|says|announced|stated) (?:that )?(?:it|they|its \w+|their \w+) (?:had |has |have )?"
    r"(?:attack|carri|launch|target|fired|struck|bomb|kill|shot|(?:was|were|is|are) behind)",
    re.IGNORECASE,
)


def _sentence_at(text: str, offset: int) -> str:
    for sentence in split_sentences(text):
        if sentence.start <= offset < sentence.end:
            return text[sentence.start : sentence.end]
    return ""


def _mentions(name: str, text: str) -> list[str]:
    """The article's sentences that write `name`: every one with its folded words, else the one grounding finds
    (a fuzzy match: "Zarate Wilka Armored Forces" for "ZARATE WILKA ARMED FORCES")."""
    folded = f" {fold_name(name)} "
    sentences = [text[sentence.start : sentence.end] for sentence in split_sentences(text)]
    found = [sentence for sentence in sentences if folded.strip() and folded in f" {fold_name(sentence)} "]
    if found:
        return found
    span = ground(name, text)
    return [_sentence_at(text, span.start)] if span.found and span.start is not None else []


def check_claims(record: dict[str, Any], text: str) -> list[Change]:
    """A claimant stays only where a sentence of the article that names it states a claim (CLAIM_WORDS)."""
    given = record.get("claimed_by")
    if not isinstance(given, list) or not given:
        return []
    kept = [name for name in given if isinstance(name, str) and any(map(CLAIM_WORDS.search, _mentions(name, text)))]
    if kept == given:
        return []
    dropped = ", ".join(repr(name) for name in given if name not in kept)
    return [("claimed_by", kept, f"no sentence that names {dropped} says it claimed the attack")]


# The words without which a sub-event type has no support in the record's evidence (ACLED's definitions). "attack"
# and "other" need none.
TYPE_WORDS: dict[str, re.Pattern[str]] = {
    kind: re.compile(words, re.IGNORECASE)
    for kind, words in {
        "suicide_bomb": r"suicide|kamikaze|blew (?:himself|herself|themselves) up",
        "air_drone_strike": r"air ?strike|air raid|drone|aerial|aircraft|warplane|helicopter|\bjets?\b|airplane"
        r"|\bplanes?\b|strafe|bombard",
        "chemical_weapon": r"chemical|poison gas|nerve agent|chlorine|sarin|mustard gas",
        "sexual_violence": r"\brap(?:e|ed|es|ing)\b|sexual",
        "government_regains_territory": r"recaptur|retak|regain|retook|took back|liberat|reclaim|back control",
        "non_state_actor_overtakes_territory": r"seiz|captur|overr[au]n|took (?:control|over)"
        r"|tak(?:e|es|ing) (?:control|over)|occup",
        "grenade": r"grenade",
        "shelling_artillery_missile_attack": r"shell(?:s|ed|ing)?\b|artillery|mortar|rocket|missile|cannon|howitzer"
        r"|field gun",
        "remote_explosive_landmine_ied": r"bomb|explos|dynamite|\bmines?\b|landmine|\bied|blast|detonat|device",
        "abduction_forced_disappearance": r"kidnap|abduct|hostage|disappear|captive",
        "armed_clash": r"clash|fight|battle|combat|skirmish|exchange[sd]? (?:of )?fire|firefight|engage|confront"
        r"|ambush",
    }.items()
}
# A type without support becomes the first of these whose words the evidence has, else the type of its weapons.
RETYPE_ORDER = (
    "abduction_forced_disappearance",
    "grenade",
    "remote_explosive_landmine_ied",
    "shelling_artillery_missile_attack",
)
WEAPON_SUB_EVENT = {
    "explosive_device": "remote_explosive_landmine_ied",
    "vehicle_bomb": "remote_explosive_landmine_ied",
    "grenade": "grenade",
    "rocket": "shelling_artillery_missile_attack",
    "mortar": "shelling_artillery_missile_attack",
    "artillery": "shelling_artillery_missile_attack",
    "missile": "shelling_artillery_missile_attack",
    "aircraft": "air_drone_strike",
    "drone": "air_drone_strike",
    "suicide_vest": "suicide_bomb",
}
DEFAULT_SUB_EVENT = "attack"


def check_type(record: dict[str, Any], _text: str) -> list[Change]:
    """A sub-event type that neither the record's own evidence quotes and weapon words (TYPE_WORDS) nor the type of
    one of its weapons (WEAPON_SUB_EVENT) bears out is replaced: by the first type of RETYPE_ORDER those words
    give, else the type of its weapons, else "attack"."""
    given = record.get("sub_event_type")
    if given not in TYPE_WORDS:
        return []
    weapons = [weapon for weapon in record.get("weapons") or [] if isinstance(weapon, dict)]
    words = " ".join(str(part) for part in [*(record.get("evidence") or []), *(w.get("text") or "" for w in weapons)])
    typed = [kind for weapon in weapons if (kind := WEAPON_SUB_EVENT.get(str(weapon.get("type")))) is not None]
    if TYPE_WORDS[given].search(words) or given in typed:
        return []
    why = f"neither its evidence nor its weapons give a word for {given}"
    if (stored := next((kind for kind in RETYPE_ORDER if TYPE_WORDS[kind].search(words)), None)) is not None:
        return [("sub_event_type", stored, f"{why}; its words are those of {stored}")]
    if typed:
        return [("sub_event_type", typed[0], f"{why}; {typed[0]} from its weapons")]
    return [("sub_event_type", DEFAULT_SUB_EVENT, why)]


def check_site(location: dict[str, Any], _text: str) -> list[Change]:
    """A site that is the record's town or region, a country, or a town the gazetteer knows, is no site (a site is
    a named facility): it moves to the town where the town is empty and it is a town, else it is nulled."""
    site = location.get("site")
    if not isinstance(site, str) or not site.strip():
        return []
    folded = fold_name(site)
    if folded in {fold_name(str(location.get(key) or "")) for key in ("town", "region")}:
        return [("site", None, "the record's town or region, not a site")]
    if gazetteer().named(site, location.get("country")):
        if location.get("town"):
            return [("site", None, "a town, not a site")]
        return [("site", None, "a town, not a site"), ("town", site, "the site was a town")]
    if countries_named(site) and len(folded.split()) <= 2:  # "Panama", "NO CITY (PERU)" is kept as written
        return [("site", None, "a country, not a site")]
    return []


PLACEHOLDER = re.compile(r"(?:unknown|none|null|n/?a|not (?:specified|stated|reported|given)|unspecified|-)?", re.I)


def check_targets(record: dict[str, Any], _text: str) -> list[Change]:
    """A target named "unknown", "none" or nothing names no target: it is dropped."""
    given = record.get("targets")
    if not isinstance(given, list):
        return []
    kept = [target for target in given if not PLACEHOLDER.fullmatch(str((target or {}).get("name") or "").strip())]
    return [] if len(kept) == len(given) else [("targets", kept, "a target named as unknown names none")]


# A target's kind from its own words, in this order ("police patrol" is police, "army officer" military).
TARGET_KIND_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(words, re.IGNORECASE))
    for kind, words in (
        ("police", r"police|policem[ae]n|patrolm[ae]n|\bguard|constable"),
        ("military", r"soldier|troop|army|military|battalion|brigade|patrol|garrison|barracks|\bbase\b|officer"
         r"|colonel|general|sergeant|lieutenant|captain|marine|navy|air force"),
        ("diplomatic", r"embass|diplomat|ambassador|consul"),
        ("religious", r"church|priest|jesuit|bishop|mormon|missionar|\bnuns?\b|clergy|religious|temple|mosque"),
        ("media", r"journalist|reporter|newspaper|radio|television|\btv\b|newsm[ae]n|editor|press"),
        ("government", r"mayor|minister|governor|judge|magistrate|official|government|ministry|congress|senator"
         r"|deputy|president|councilm[ae]n|court|office|party|candidate|legislat"),
        ("infrastructure", r"power|electric|tower|pylon|line|bridge|pipeline|substation|road|highway|plant|\bdam\b"
         r"|railway|station|telephone|oil|water|energy|airport"),
        ("civilian", r"peasant|civilian|villager|student|people|person|child|wom[ae]n|\bm[ae]n\b|passenger|resident"
         r"|famil|worker|teacher|farmer|house|home|residence|\bbus|\bcar\b|vehicle|truck|shop|store|bank|business"
         r"|school|university|hotel|citizen|daughter|\bsons?\b|wife|maid"),
    )
)  # fmt: skip


def check_target_kinds(record: dict[str, Any], _text: str) -> list[Change]:
    """A target of kind "unknown" whose own words say its kind (TARGET_KIND_WORDS: "peasants", "police patrol",
    "power substation") gets that kind."""
    given = record.get("targets")
    if not isinstance(given, list):
        return []
    stored, named = [], []
    for target in given:
        name = str(target.get("name") or "") if isinstance(target, dict) else ""
        kind = next((kind for kind, words in TARGET_KIND_WORDS if words.search(name)), None)
        if isinstance(target, dict) and target.get("kind") in ("unknown", None) and kind is not None:
            stored.append({**target, "kind": kind})
            named.append(f"{name!r} is {kind}")
        else:
            stored.append(target)
    return [("targets", stored, f"the kind its words give: {'; '.join(named)}")] if named else []


# The checks by the name a schema's RESOLVED_FIELDS gives them (resolve.RESOLVERS runs them): "site" on a location,
# the others on the record itself (the "" path).
CHECKS: dict[str, Callable[[dict[str, Any], str], list[Change]]] = {
    "claims": check_claims,
    "type": check_type,
    "site": check_site,
    "targets": check_targets,
    "target_kinds": check_target_kinds,
}
