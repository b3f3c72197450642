"""Grounding: each copied value is found in the article with offsets and a status, or reported as not found."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_extract.extraction.grounding import FUZZY_MIN_CHARS, locate

ROOT = Path(__file__).resolve().parents[1]
SEED_004 = (ROOT / "evals" / "seeds" / "docs" / "004_2d0baa25ee1082f8.txt").read_text()
SEED_003 = (ROOT / "evals" / "seeds" / "docs" / "003_25f5773b3494cece.txt").read_text()


def test_exact_match_gives_the_offsets_of_the_quote() -> None:
    span = locate("Ain al-Assad airbase", SEED_004, "incidents[0].location.site")
    assert span.status == "exact" and span.score == 100
    assert SEED_004[span.start : span.end] == "Ain al-Assad airbase"
    assert span.path == "incidents[0].location.site"


def test_exact_match_respects_word_boundaries() -> None:
    text = "The USA said US forces were hit."
    span = locate("US", text)
    assert text[span.start : span.end] == "US" and span.start == text.index("US forces")


def test_case_and_curly_quotes_and_spacing_are_normalised() -> None:
    # The article writes "base\u2019s" and non-breaking spaces around "stated"; the model writes plain text.
    quote = "U.S. Central Command (CENTCOM) stated that the base's air defense system intercepted most of the rockets"
    span = locate(quote, SEED_004)
    assert span.status == "normalised"
    found = SEED_004[span.start : span.end]
    assert found.startswith("U.S. Central Command (CENTCOM)") and found.endswith("most of the rockets")
    assert "\u2019" in found and "\xa0" in found

    span = locate("on wednesday (oct 18)", SEED_003)
    assert span.status == "normalised" and SEED_003[span.start : span.end] == "On Wednesday (Oct 18)"


def test_a_paraphrased_sentence_is_a_fuzzy_match_widened_to_whole_words() -> None:
    # The model wrote "Iran-backed Iraqi militias"; the article says "Iraqi militias backed by Iran".
    quote = "Iraqi militias backed by Iran launched a barrage of ballistic missiles and rockets targeting Ain al-Asad"
    span = locate(quote, SEED_004)
    assert span.status == "fuzzy" and 90 <= span.score < 100
    found = SEED_004[span.start : span.end]
    assert found.startswith("Iraqi militias backed by Iran") and "Ain al-Assad" in found
    assert not found[0].isspace() and not found[-1].isspace()


def test_short_values_are_never_fuzzy_and_invented_ones_are_not_found() -> None:
    # "no injuries" is one letter from "nor injuries": a different claim, so exact or nothing.
    assert len("no injuries") < FUZZY_MIN_CHARS
    span = locate("no injuries", "There were neither deaths nor injuries.")
    assert span.status == "not_found" and span.start is None and span.score == 0
    assert locate("northern Syria", SEED_003).status == "not_found"
    assert locate("   ", SEED_003).status == "not_found"


def test_preferred_range_picks_the_occurrence_inside_the_evidence() -> None:
    text = "Drones hit al-Asad. Later, more drones hit al-Asad airbase again."
    evidence = (text.index("Later"), len(text))
    assert locate("al-Asad", text).start == text.index("al-Asad")
    assert locate("al-Asad", text, prefer=[evidence]).start == text.index("al-Asad airbase")


@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=200),
    st.data(),
)
def test_a_substring_that_is_found_lies_where_its_offsets_say(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    span = locate(quote, text)
    if quote.strip() and span.status == "exact":
        assert text[span.start : span.end] == quote.strip()
    if span.found:
        assert 0 <= span.start < span.end <= len(text)


@pytest.mark.parametrize("quote", ["Ain al-Assad airbase", "at least one Iraqi service member was injured"])
def test_every_seed_value_found_exactly_is_found_verbatim(quote: str) -> None:
    span = locate(quote, SEED_004)
    assert span.status == "exact" and SEED_004[span.start : span.end] == quote
