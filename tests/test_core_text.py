"""core.text: the folds and their shared pieces."""

from __future__ import annotations

from llm_extract.core.text import TYPOGRAPHY, fold_name, fold_with_origins, squash_spaces, strip_accents


def test_squash_spaces_makes_every_whitespace_run_one_space_and_trims_the_ends() -> None:
    assert squash_spaces("  a \t\n b\u00a0\u2003c  ") == "a b c"
    assert squash_spaces("") == squash_spaces(" \n ") == ""


def test_strip_accents_decomposes_and_drops_combining_marks_only() -> None:
    assert strip_accents("Café Ñandú Łódź ﬁle") == "Cafe Nandu Łodz file"  # Ł has no decomposition: kept
    assert strip_accents("e\u0301") == "e" and strip_accents("\u0301") == ""


def test_typography_maps_quotes_dashes_and_the_no_break_space_to_ascii() -> None:
    typeset = "\u201cal\u2013Asad\u201d \u2018base\u2019\u00a0\u2014 x\u2212y"
    assert typeset.translate(TYPOGRAPHY) == "\"al-Asad\" 'base' - x-y"


def test_fold_name_ignores_case_accents_punctuation_hyphens_and_a_leading_article() -> None:
    assert fold_name("The  Islamic Resistance in Iraq") == "islamic resistance in iraq"
    assert fold_name("Al-Asad") == fold_name("al asad") == fold_name("AL_ASAD") == fold_name("al\u2013Asad")
    assert fold_name("al\u2013Asad") == "al asad"
    assert fold_name("Bogotá, D.C.") == "bogota dc"
    assert fold_name("STRASSE") == fold_name("Straße") == "strasse"  # casefold, not lower
    assert fold_name("theatre") == "theatre" and fold_name("") == ""


def test_fold_name_drops_a_dash_it_does_not_map() -> None:
    # Only the hyphen and the en dash become spaces, as the scorer always read names; an em dash is dropped.
    assert fold_name("al\u2014asad") == "alasad"


def test_fold_with_origins_maps_each_folded_character_back() -> None:
    text = "  Ab \u200b\n\tİx  "
    folded, origins = fold_with_origins(text, lambda char: "" if char == "\u200b" else char.lower())
    assert folded == "ab i\u0307x "  # 'İ' lowers to two characters; the trailing run stays one space
    assert origins == [2, 3, 4, 8, 8, 9, 10]  # a space points at the first character of its run
    assert all(char in text[origin].lower() for char, origin in zip(folded, origins, strict=True) if char != " ")


def test_fold_with_origins_never_doubles_a_space_around_a_dropped_character() -> None:
    folded, origins = fold_with_origins("a \u200b b", lambda char: "" if char == "\u200b" else char)
    assert (folded, origins) == ("a b", [0, 1, 4])
    assert fold_with_origins("", str.lower) == ("", [])
