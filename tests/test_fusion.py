"""Cross-article fusion: linking, blocking against brute force, the canonical event's values and conflicts,
determinism, the seed suite's gold clusters, the recorded seed run end to end, and the `fuse` command."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from llm_extract.api import extract_batch, fuse_runs
from llm_extract.cli import app
from llm_extract.core.config import Settings
from llm_extract.evaluation.evaluate import evaluate_run, gold_reading
from llm_extract.events.event import FusedEvent
from llm_extract.events.fusion import (
    FusionConfig,
    FusionError,
    candidate_pairs,
    cluster,
    compatible,
    evidence,
    fuse,
    score,
    source_incident,
    source_incidents,
)
from llm_extract.scoring.incidents import SourceIncident
from llm_extract.scoring.suite import SuiteError, load_suite

ROOT = Path(__file__).resolve().parents[1]
SEEDS = load_suite("seeds")
CONFIG = FusionConfig()


def incident(
    *,
    site: str | None = None,
    region: str | None = "western Iraq",
    country: str | None = "IQ",
    start: str | None = "2023-10-18",
    precision: str = "day",
    date_text: str | None = None,
    sub_event_type: str = "air_drone_strike",
    drones: int | None = 2,
    perpetrators: tuple[tuple[str, str], ...] = (("Islamic Resistance in Iraq", "claimed"),),
    claimed_by: tuple[str, ...] = (),
    injured: tuple[int | None, int | None, str | None] = (None, None, None),
) -> dict[str, Any]:
    """An incident_v1 record with the fields fusion reads (the rest as an extractor leaves them empty)."""
    return {
        "role": "main",
        "sub_event_type": sub_event_type,
        "weapons": [{"type": "drone", "count": drones, "text": None}],
        "date": {"start": start, "end": None, "precision": precision if start else "unknown", "text": date_text},
        "location": {"site": site, "town": None, "region": region, "country": country, "precision": "unknown"},
        "perpetrators": [{"name": name, "attribution": attribution} for name, attribution in perpetrators],
        "claimed_by": list(claimed_by),
        "targets": [{"name": "U.S. forces", "kind": "military"}],
        "outcome": {"intercepted": True, "damage": None},
        "casualties": {"killed": {"min": None, "max": None, "text": None},
                       "injured": {"min": injured[0], "max": injured[1], "text": injured[2]}},
        "evidence": ["a quote"],
    }  # fmt: skip


def line(doc_id: str, *incidents: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A stored run line (as `extract` writes it, less what fusion does not read)."""
    return {"doc_id": doc_id, "status": "ok", "incidents": list(incidents), "published": None, **extra}


def reports_of(*lines: dict[str, Any]) -> list[SourceIncident]:
    return source_incidents(lines)[0]


def events_by_reports(fusion_clusters: list[list[str]]) -> set[frozenset[str]]:
    return {frozenset(members) for members in fusion_clusters}


# ---- linking --------------------------------------------------------------------------------


def test_one_attack_in_three_articles_is_one_event_with_its_sources_support_and_conflicts() -> None:
    fusion = fuse(reports_of(
        line("a", incident(site="al-Asad airbase", claimed_by=("Islamic Resistance in Iraq",),
                           injured=(1, None, "minor injuries")), published="2023-10-18"),
        line("b", incident(site="Ain al-Assad air base", perpetrators=(("Kataib Hezbollah", "suspected"),),
                           injured=(0, 0, "no casualties"))),
        line("c", incident(site="a base in western Iraq", injured=(0, 0, "no injuries"))),
    ))  # fmt: skip
    assert fusion.clusters == [["a#0", "b#0", "c#0"]]
    (event,) = fusion.events
    assert event.articles == ["a", "b", "c"]
    assert [source.report for source in event.sources] == event.reports == ["a#0", "b#0", "c#0"]  # earliest first
    record = event.record
    assert record["location"]["site"] == "al-Asad airbase"  # "a base in western Iraq" names no site
    assert event.support["location.site"] == ["a#0", "b#0"]
    assert record["date"] == {"start": "2023-10-18", "end": "2023-10-18", "precision": "day"}
    assert record["weapons"] == [{"type": "drone", "count": 2}]
    conflicts = {conflict.field: conflict for conflict in event.conflicts}
    injured = conflicts["casualties.injured"]
    assert record["casualties"]["injured"] == injured.reported == {"min": 0, "max": 0}  # the lowest figure
    assert "ACLED" in injured.rule
    assert injured.to_dict()["values"] == [
        {"value": {"min": 0, "max": 0}, "sources": ["b#0", "c#0"], "words": ["no casualties", "no injuries"]},
        {"value": {"min": 1, "max": None}, "sources": ["a#0"], "words": ["minor injuries"]},
    ]
    assert conflicts["perpetrators"].to_dict()["values"] == [
        {"value": ["Islamic Resistance in Iraq"], "sources": ["a#0", "c#0"]},
        {"value": ["Kataib Hezbollah"], "sources": ["b#0"]},
    ]
    assert "claimed_by" not in conflicts, "a report that names no claimant is silent, not in disagreement"
    assert record["perpetrators"] == [
        {"name": "Islamic Resistance in Iraq", "attribution": "claimed"},
        {"name": "Kataib Hezbollah", "attribution": "suspected"},
    ]
    assert not event.borderline and len(event.links) == 3


def test_two_attacks_reported_by_the_same_articles_stay_two_events() -> None:
    """The 18 October pattern: every article reports both bases; same day, same group, same weapon type."""
    north = {"region": "northern Iraq", "drones": 1}
    fusion = fuse(reports_of(
        line("a", incident(site="al-Asad airbase"), incident(**north)),
        line("b", incident(site="al-Harir airbase", **north), incident(site="al-Asad military base")),
        line("c", incident(site="a base in western Iraq"), incident(site="another base", region=None, drones=1)),
    ))  # fmt: skip
    assert events_by_reports(fusion.clusters) == {frozenset({"a#0", "b#1", "c#0"}), frozenset({"a#1", "b#0", "c#1"})}


def test_incidents_of_one_article_are_never_one_event() -> None:
    fusion = fuse(reports_of(line("a", incident(site="al-Asad airbase"), incident(site="al-Asad airbase"))))
    assert fusion.stats["candidate_pairs"] == 0 and len(fusion.events) == 2


def test_undated_reports_and_reports_from_other_countries_are_not_linked() -> None:
    base = {"site": "al-Asad airbase"}
    undated = fuse(reports_of(line("a", incident(**base, start=None)), line("b", incident(**base, start=None))))
    assert len(undated.events) == 2 and undated.stats["undated"] == 2
    apart = fuse(reports_of(line("a", incident(**base, country="IQ")), line("b", incident(**base, country="SY"))))
    assert len(apart.events) == 2
    unknown = fuse(reports_of(line("a", incident(**base, country="IQ")), line("b", incident(**base, country=None))))
    assert len(unknown.events) == 1, "an unknown country differs from none"
    nowhere = fuse(reports_of(line("a", incident(**base, country=None)), line("b", incident(**base, country=None))))
    assert len(nowhere.events) == 1
    days = fuse(reports_of(line("a", incident(**base)), line("b", incident(**base, start="2023-10-21"))))
    assert len(days.events) == 2, "three days apart at day precision"


def test_a_precise_date_refines_a_vague_one_and_the_normalised_date_wins_over_the_model() -> None:
    fusion = fuse(reports_of(
        line("a", incident(site="al-Asad airbase")),
        line("b", incident(site="al-Asad airbase", start="2023-10-01", precision="month")),
    ))  # fmt: skip
    (event,) = fusion.events
    assert event.record["date"]["start"] == "2023-10-18" and event.support["date"] == ["a#0", "b#0"]
    assert event.conflict("date") is None
    # the model misread the date; the normalised words say 18 October: linking uses the normalised day
    normalized = {"incidents[0].date": {"status": "resolved", "start": "2023-10-18", "end": "2023-10-18",
                                        "precision": "day"}}  # fmt: skip
    misread = line("b", incident(site="al-Asad airbase", start="2023-10-13"), normalized=normalized)
    reports = reports_of(line("a", incident(site="al-Asad airbase")), misread)
    assert evidence(reports[0], reports[1], CONFIG)["date"] == 3.0


def test_dates_that_do_not_nest_are_a_conflict_with_each_reports_words() -> None:
    fusion = fuse(reports_of(
        line("a", incident(site="al-Asad airbase", start="2023-10-16", precision="unknown", date_text="on Monday")),
        line("b", incident(site="al-Asad airbase", start="2023-10-18", precision="unknown", date_text="on Wednesday")),
    ))  # fmt: skip
    (event,) = fusion.events
    conflict = event.conflict("date")
    assert conflict is not None
    assert [(v.value["start"], v.sources, v.words) for v in conflict.values] == [
        ("2023-10-16", ["a#0"], ["on Monday"]),
        ("2023-10-18", ["b#0"], ["on Wednesday"]),
    ]


def test_a_run_of_another_schema_is_refused_with_what_to_do() -> None:
    with pytest.raises(FusionError, match="incident_v1"):
        source_incidents([{"doc_id": "x", "status": "ok", "templates": []}])
    with pytest.raises(FusionError, match="given twice"):
        fuse(reports_of(line("a", incident()), line("a", incident())))


# ---- blocking, clustering and determinism on synthetic reports ---------------------------------

SITES = ["al-Asad airbase", "Ain al-Assad air base", "al-Harir airbase", "a base in western Iraq", None]
PRECISIONS = ["day", "day", "day", "week", "month", "year", "unknown"]


@st.composite
def synthetic(draw: st.DrawFn) -> list[SourceIncident]:
    """Reports crowded into a few weeks, places and articles, with every kind of date, so pairs overlap a lot."""
    reports = []
    for number in range(draw(st.integers(0, 40))):
        doc_id = draw(st.sampled_from("abcdefgh"))
        dated = draw(st.booleans()) or draw(st.booleans())
        record = incident(
            site=draw(st.sampled_from(SITES)),
            region=draw(st.sampled_from(["western Iraq", "northern Iraq", None])),
            country=draw(st.sampled_from(["IQ", "SY", None, None])),
            start=f"2023-10-{draw(st.integers(1, 28)):02d}" if dated else None,
            precision=draw(st.sampled_from(PRECISIONS)),
            sub_event_type=draw(st.sampled_from(["air_drone_strike", "shelling_artillery_missile_attack"])),
            drones=draw(st.sampled_from([1, 2, None])),
        )
        reports.append(source_incident(f"{doc_id}#{number}", doc_id, number, record))
    return reports


@settings(max_examples=150, deadline=None)
@given(synthetic())
def test_blocking_finds_exactly_the_pairs_the_full_comparison_allows(reports: list[SourceIncident]) -> None:
    ordered = sorted(reports, key=lambda report: (report.doc_id, report.index, report.id))
    every_pair = [(i, j) for i in range(len(ordered)) for j in range(i + 1, len(ordered))]
    allowed = [(i, j) for i, j in every_pair if compatible(ordered[i], ordered[j], CONFIG)]
    assert candidate_pairs(ordered, CONFIG) == allowed
    linked_by_brute_force = {(i, j) for i, j in allowed if score(ordered[i], ordered[j], CONFIG) >= CONFIG.threshold}
    assert linked_by_brute_force <= set(candidate_pairs(ordered, CONFIG))
    full = {pair: score(ordered[pair[0]], ordered[pair[1]], CONFIG) for pair in allowed}
    fusion = fuse(reports)
    brute = [[ordered[i].id for i in group.members] for group in cluster(ordered, full, CONFIG)]
    assert events_by_reports(fusion.clusters) == events_by_reports(brute)
    for members in fusion.clusters:
        articles = [member.split("#")[0] for member in members]
        assert len(articles) == len(set(articles)), "two incidents of one article in one event"
    assert sorted(member for members in fusion.clusters for member in members) == sorted(r.id for r in reports)


def test_the_result_does_not_depend_on_the_order_of_the_input() -> None:
    reports = _seeded_reports(random.Random(7), 300)
    first = fuse(reports)
    shuffled = list(reports)
    random.Random(1).shuffle(shuffled)
    again = fuse(shuffled)
    assert [event.to_json() for event in first.events] == [event.to_json() for event in again.events]
    assert len(first.events) < len(reports), "the generator must produce merges for this test to mean anything"


def _seeded_reports(rng: random.Random, count: int) -> list[SourceIncident]:
    reports = []
    for number in range(count):
        doc_id = f"d{rng.randrange(count // 2)}"
        record = incident(
            site=rng.choice(SITES),
            start=f"2023-10-{rng.randint(1, 10):02d}",
            precision=rng.choice(PRECISIONS),
            drones=rng.choice([1, 2]),
            injured=rng.choice([(0, 0, "no injuries"), (1, None, "minor injuries"), (None, None, None)]),
            perpetrators=((rng.choice(["Islamic Resistance in Iraq", "Kataib Hezbollah"]), "claimed"),),
        )
        reports.append(source_incident(f"{doc_id}#{number}", doc_id, number, record))
    return reports


# ---- the seed suite ---------------------------------------------------------------------------


def test_the_gold_clusters_cover_every_gold_incident_once() -> None:
    clusters = SEEDS.gold_clusters()
    assert set(clusters) == {g["id"] for items in SEEDS.gold().values() for g in items}
    assert len(set(clusters.values())) == 9


def test_fusing_the_gold_seed_incidents_recovers_the_gold_clusters() -> None:
    """Fusion alone. The one miss is by rule: 002-3 (the Gaza hospital) has no date in its first reading
    (002 gives none), and an undated report is never linked; so 001-3 and 002-3 stay apart."""
    gold = SEEDS.gold()
    reports = [source_incident(g["id"], doc_id, n, gold_reading(g)) for doc_id, items in gold.items()
               for n, g in enumerate(items)]  # fmt: skip
    predicted = events_by_reports(fuse(reports).clusters)
    by_event: dict[str, set[str]] = {}
    for gold_id, event in SEEDS.gold_clusters().items():
        by_event.setdefault(event, set()).add(gold_id)
    expected = {frozenset(members) for members in by_event.values() if members != {"001-3", "002-3"}}
    assert predicted == expected | {frozenset({"001-3"}), frozenset({"002-3"})}


def test_gold_cluster_files_that_do_not_fit_are_refused_or_reported(tmp_path: Path) -> None:
    clusters = tmp_path / "clusters.jsonl"
    clusters.write_text('{"event": "x", "incidents": ["000-1"]}\n{"event": "y", "incidents": ["000-1"]}\n')
    with pytest.raises(SuiteError, match="000-1 is already in event 'x'"):
        dataclasses.replace(SEEDS, clusters_path=clusters).gold_clusters()
    run = _gold_as_run(tmp_path / "run.jsonl")
    missing = evaluate_run(dataclasses.replace(SEEDS, clusters_path=tmp_path / "none.jsonl"), run, "incidents")
    assert missing["fusion"] == {"skipped": f"no clusters file at {tmp_path / 'none.jsonl'}"}
    assert not [name for name in missing["metrics"] if name.startswith("fusion.")]
    clusters.write_text('{"event": "x", "incidents": ["000-1"]}\n')
    partial = evaluate_run(dataclasses.replace(SEEDS, clusters_path=clusters), run, "incidents")
    assert "not clustered ['000-2'" in partial["fusion"]["skipped"]


def _gold_as_run(path: Path) -> Path:
    lines = [line(doc_id, *(gold_reading(g) for g in items)) for doc_id, items in SEEDS.gold().items()]
    path.write_text("".join(json.dumps(item) + "\n" for item in lines))
    return path


def test_end_to_end_on_a_run_equal_to_the_gold_matches_fusion_alone(tmp_path: Path) -> None:
    """Each extracted incident stands for the gold incident it is aligned with: a run that is the gold
    aligns one to one, so end to end must score what fusion alone scores."""
    report = evaluate_run(SEEDS, _gold_as_run(tmp_path / "run.jsonl"), "incidents")
    fusion, metrics = report["fusion"], report["metrics"]
    for measure in ("pairwise", "bcubed"):
        assert fusion["e2e"][measure] == fusion["gold"][measure]
    assert metrics["fusion.gold.bcubed.f1"] == fusion["gold"]["bcubed"]["f1"]
    assert metrics["fusion.gold.pairwise.precision"] == 1.0


# ---- the recorded seed run, end to end, and the command -----------------------------------------


@pytest.fixture
def seed_run(replay_settings: Settings, tmp_path: Path) -> Path:
    run = tmp_path / "seeds.jsonl"
    extract_batch([SEEDS.documents], run, replay_settings)
    return run


@pytest.mark.cassette
def test_the_recorded_seed_run_is_fused_and_scored_end_to_end(seed_run: Path, tmp_path: Path) -> None:
    report = evaluate_run(SEEDS, seed_run, "incidents")
    e2e = report["fusion"]["e2e"]
    extracted = sum(len(r["incidents"]) for r in map(json.loads, seed_run.read_text().splitlines()))
    assert e2e["items"] == extracted and set(e2e["aligned"]) == {m for ms in e2e["events"] for m in ms}
    for part in ("gold", "e2e"):
        for measure in ("pairwise", "bcubed"):
            assert report["metrics"][f"fusion.{part}.{measure}.f1"] == report["fusion"][part][measure]["f1"]
    for members in e2e["events"]:
        assert len({member.split("#")[0] for member in members}) == len(members)
    # what the command writes is what the library returns
    output = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, ["fuse", str(seed_run), "-o", str(output)])
    assert result.exit_code == 0, result.output
    written = [FusedEvent.from_json(text) for text in output.read_text().splitlines()]
    assert written == fuse_runs([seed_run]).fusion.events
    assert [event.reports for event in written] == e2e["events"]


def test_the_fuse_command_writes_events_and_shows_the_conflicts(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    lines = [line("a", incident(site="al-Asad airbase", injured=(1, None, "minor injuries"))),
             line("b", incident(site="al-Asad airbase", injured=(0, 0, "no injuries"))),
             {"doc_id": "c", "status": "error", "incidents": None}]  # fmt: skip
    run.write_text("".join(json.dumps(item) + "\n" for item in lines))
    output = tmp_path / "out" / "events.jsonl"
    result = CliRunner().invoke(app, ["fuse", str(run), "-o", str(output)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (event,) = [FusedEvent.from_json(text) for text in output.read_text().splitlines()]
    assert event.articles == ["a", "b"]
    assert "Fused events" in result.output
    assert "casualties.injured: ≥1 (a#0); 0 (b#0) -> reported 0" in result.output  # a tie: the earliest first
    assert "1 documents not ok" in result.output
    assert "2 incidents from 2 articles -> 1 events" in result.output
    missing = CliRunner().invoke(app, ["fuse", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no run at" in missing.output
