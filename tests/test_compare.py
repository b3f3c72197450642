"""`eval compare`'s library: two stored runs of one suite compared document by document.

The per-document scores are checked against each run scored on its own by the scorers (scoring.fields.score,
gtt.score_document), not against numbers written here; the runs are real stored ones (the seeds plain reference
and an older seeds run of the pipeline; the MUC-4 baseline and its plain reference, which covers half the suite).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from llm_extract.core.metrics import Counts
from llm_extract.evaluation.compare import RunComparison, compare_runs
from llm_extract.evaluation.evaluate import coverage_warning, evaluate_run
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.review.compare_page import render_compare, value_text
from llm_extract.review.compare_table import documents_table, overall_table, summary_line
from llm_extract.runs.store import read_run
from llm_extract.scoring import gtt
from llm_extract.scoring.fields import score
from llm_extract.scoring.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
SEEDS_A = ROOT / "evals" / "seeds" / "reference_run.jsonl"  # the plain instructor call
SEEDS_B = ROOT / "tests" / "data" / "scoring" / "seeds_run.jsonl"  # an earlier run of the pipeline
MUC4_A = ROOT / "evals" / "muc4" / "muc4_v3_run.jsonl"  # 200 documents
MUC4_REFERENCE = ROOT / "evals" / "muc4" / "reference_run.jsonl"  # 200 documents; run B: its first 100


@pytest.fixture(scope="module")
def muc4_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that covers part of the suite: the plain reference's TST1 half (its first 100 lines)."""
    path = tmp_path_factory.mktemp("muc4_b") / "tst1_reference.jsonl"
    path.write_text("".join(MUC4_REFERENCE.read_text().splitlines(keepends=True)[:100]))
    return path


@pytest.fixture(scope="module")
def seeds() -> RunComparison:
    return compare_runs(SEEDS_A, SEEDS_B, "seeds")


@pytest.fixture(scope="module")
def muc4(muc4_b: Path) -> RunComparison:
    return compare_runs(MUC4_A, muc4_b, "muc4")


def field_scores(run: Path) -> dict[str, tuple[float, float]]:
    """doc_id -> (field F1, incident F1), the run scored alone by scoring.fields."""
    suite = load_suite("seeds")
    assert suite.scoring is not None
    spec = load_schema(suite.schema)
    lines = read_run(run, spec.list_field, spec.json_schema).records
    result = score(suite.scoring, suite.gold(), {line.doc_id: line.records for line in lines})
    scores = {}
    for document in result.documents:
        fields = Counts()
        for counts in document.fields.values():
            fields += counts
        scores[document.doc_id] = (fields.f1, document.incidents.f1)
    return scores


def template_scores(run: Path) -> dict[str, tuple[str, float]]:
    """doc_id -> (status, GTT F1) of each document the run answered, scored alone by the GTT scorer."""
    gold = gtt.load_gold(ROOT / "evals" / "muc4" / "gold.jsonl")
    lines = read_run(run, "templates").records
    return {
        line.doc_id: (line.status, gtt.score_document(line.doc_id, gtt.templates_from_records(line.records),
                                                      gold[line.doc_id]).micro.f1)
        for line in lines
    }  # fmt: skip


def with_lines(source: Path, target: Path, change: dict[str, object]) -> Path:
    """A copy of a stored run whose line for each doc_id in `change` is replaced (a function of the line) or
    dropped (None), and its manifest left behind."""
    out = []
    for text in source.read_text().splitlines():
        line = json.loads(text)
        if line["doc_id"] in change:
            edit = change[line["doc_id"]]
            if edit is None:
                continue
            line = edit(line)  # type: ignore[operator]
        out.append(json.dumps(line))
    target.write_text("\n".join(out) + "\n")
    return target


def test_per_document_scores_and_deltas_are_each_runs_own(seeds: RunComparison) -> None:
    a, b = field_scores(SEEDS_A), field_scores(SEEDS_B)
    assert {d.doc_id for d in seeds.documents} == set(a) == set(b)
    for document in seeds.documents:
        assert document.a is not None and document.b is not None
        assert document.a.score == pytest.approx(a[document.doc_id][0])
        assert document.b.score == pytest.approx(b[document.doc_id][0])
        assert document.a.incidents_f1 == pytest.approx(a[document.doc_id][1])
        assert document.b.incidents_f1 == pytest.approx(b[document.doc_id][1])
        assert document.delta == pytest.approx(b[document.doc_id][0] - a[document.doc_id][0])
    # regressions come first, whatever their size; the largest gain leads the improvements
    worse = sum(b[d][0] < a[d][0] for d in a)
    assert worse and seeds.documents[0].doc_id == min(a, key=lambda d: b[d][0] - a[d][0])
    assert seeds.documents[worse].doc_id == max(a, key=lambda d: b[d][0] - a[d][0])


def test_order_is_regressions_then_improvements_then_the_rest(muc4: RunComparison) -> None:
    groups = ["worse", "better", "same", "only in A", "only in B"]
    changes = [d.change for d in muc4.documents]
    assert changes == sorted(changes, key=groups.index)
    for change in ("worse", "better"):
        sizes = [abs(d.delta or 0) for d in muc4.documents if d.change == change]
        assert sizes == sorted(sizes, reverse=True) and sizes


def test_summary_and_overall_scores(seeds: RunComparison) -> None:
    suite = load_suite("seeds")
    spec = load_schema(suite.schema)
    for run, side in ((SEEDS_A, "a"), (SEEDS_B, "b")):
        metrics = evaluate_run(suite, run, spec.list_field, shape=spec.json_schema).metrics
        for headline in seeds.overall:
            assert getattr(headline, side) == metrics[headline.metric]
    assert seeds.overall_shared is None  # both runs answered every gold document
    deltas = [d.delta for d in seeds.documents]
    summary = seeds.summary
    assert summary.better == sum(d > 0 for d in deltas if d is not None)
    assert summary.worse == sum(d < 0 for d in deltas if d is not None)
    assert summary.better + summary.worse + summary.same == 5
    assert summary.mean_delta == pytest.approx(sum(d for d in deltas if d is not None) / 5)


def test_gtt_documents_one_run_lacks_and_status_changes(muc4: RunComparison, muc4_b: Path) -> None:
    a, b = template_scores(MUC4_A), template_scores(muc4_b)
    assert len(a) == 200 and len(b) == 100
    by_id = {d.doc_id: d for d in muc4.documents}
    assert set(by_id) == set(a)
    for doc_id, document in by_id.items():
        assert document.a is not None and document.a.status == a[doc_id][0]
        assert document.a.score == pytest.approx(a[doc_id][1])
        if doc_id in b:
            assert document.b is not None and document.b.score == pytest.approx(b[doc_id][1])
            assert document.delta == pytest.approx(b[doc_id][1] - a[doc_id][1])
            assert document.status_changed == (a[doc_id][0] != b[doc_id][0])
        else:
            assert document.b is None and document.delta is None and document.change == "only in A"
            assert document.differs
    summary = muc4.summary
    assert (summary.only_a, summary.only_b) == (100, 0)
    assert summary.status_changes == sum(a[d][0] != b[d][0] for d in b)
    assert summary.status_changes > 0  # the baseline has invalid documents, the reference none
    # on the shared documents, each run is scored as `evaluate_run(only=...)` scores it
    suite = load_suite("muc4")
    spec = load_schema(suite.schema)
    shared = evaluate_run(suite, MUC4_A, spec.list_field, shape=spec.json_schema, only=set(b)).metrics
    assert muc4.overall_shared is not None
    assert {h.metric: h.a for h in muc4.overall_shared} == {h.metric: shared[h.metric] for h in muc4.overall_shared}


def test_partial_coverage_is_warned(muc4: RunComparison, muc4_b: Path) -> None:
    suite = load_suite("muc4")
    spec = load_schema(suite.schema)
    half = evaluate_run(suite, muc4_b, spec.list_field, shape=spec.json_schema)
    warning = coverage_warning(half)
    assert warning is not None
    assert "covers 100 of the 200 gold documents" in warning and "TST2-MUC4-0001" in warning
    assert coverage_warning(evaluate_run(suite, MUC4_A, spec.list_field, shape=spec.json_schema)) is None
    assert muc4.warnings == [f"run B: {warning}"]


def test_only_different_and_a_document_in_one_run(tmp_path: Path) -> None:
    ids = [json.loads(line)["doc_id"] for line in SEEDS_A.read_text().splitlines()]
    changed, dropped = ids[1], ids[3]

    def other_site(line: dict) -> dict:
        line["incidents"][0]["location"]["site"] = "somewhere else"
        return line

    run_b = with_lines(SEEDS_A, tmp_path / "b.jsonl", {changed: other_site, dropped: None})
    comparison = compare_runs(SEEDS_A, run_b, "seeds", only_different=True)
    assert {d.doc_id for d in comparison.shown} == {changed, dropped}
    assert len(comparison.documents) == 5  # the summary counts every document
    by_id = {d.doc_id: d for d in comparison.documents}
    assert by_id[dropped].change == "only in A" and by_id[dropped].b is None
    assert by_id[changed].records_differ
    site = [line for incident in by_id[changed].incidents for line in incident.fields if line.field == "location.site"]
    assert any(line.differs and line.b == "somewhere else" for line in site)
    for doc_id in set(ids) - {changed, dropped}:
        assert not by_id[doc_id].differs and by_id[doc_id].change == "same"
        assert not any(incident.differs for incident in by_id[doc_id].incidents)
    assert comparison.summary.only_a == 1
    assert "1 only in A, 0 only in B" in summary_line(comparison)
    swapped = compare_runs(run_b, SEEDS_A, "seeds", only_different=True)
    assert {d.doc_id: d.change for d in swapped.shown}[dropped] == "only in B"
    assert swapped.documents[-1].doc_id == dropped and swapped.documents[-1].a is None


def test_a_run_against_itself_shows_nothing_with_only_different() -> None:
    comparison = compare_runs(SEEDS_A, SEEDS_A, "seeds", only_different=True)
    assert comparison.shown == []
    assert comparison.summary.same == 5 and comparison.summary.mean_delta == 0


def test_page_escapes_every_value_and_shows_both_runs(tmp_path: Path) -> None:
    ids = [json.loads(line)["doc_id"] for line in SEEDS_A.read_text().splitlines()]

    def hostile(line: dict) -> dict:
        line["incidents"][0]["location"]["site"] = "<script>alert(1)</script>"
        return line

    run_b = with_lines(SEEDS_A, tmp_path / "b.jsonl", {ids[0]: hostile})
    html = render_compare(compare_runs(SEEDS_A, run_b, "seeds"))
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html  # the page has no script of its own either
    assert html.count('class="doc"') == 5 and ids[0] in html


def test_page_of_real_runs_marks_differences(seeds: RunComparison) -> None:
    html = render_compare(seeds)
    assert html.count('<tr class="diff">') == sum(line.differs for d in seeds.documents for i in d.incidents
                                                  for line in i.fields)  # fmt: skip
    assert "value v-correct" in html and "value v-missed" in html  # each cell carries its verdict


def test_values_read_as_text() -> None:
    assert value_text(["drone"], many=True) == "drone"
    assert value_text([["IRI", "Islamic Resistance in Iraq"], ["Hamas"]], many=True) == (
        "IRI / Islamic Resistance in Iraq; Hamas"
    )
    assert value_text(["a", "b", "c", "d", "e"], many=False) == "a / b / c (+2 accepted)"
    assert value_text(True, many=False) == "yes"
    assert value_text({"range": [10, 15]}, many=False) == "10–15"
    assert value_text(None, many=False) == value_text([], many=True) == "∅"


def test_terminal_tables_print_ids_as_text(tmp_path: Path) -> None:
    """A document id that reads as rich markup is printed as it is (the suite copied with that id)."""
    source = ROOT / "evals" / "seeds"
    odd = "[/x][red]odd"
    first = json.loads(SEEDS_A.read_text().splitlines()[0])["doc_id"]
    suite = tmp_path / "seeds"
    suite.mkdir()
    for name in ("suite.toml", "clusters.jsonl"):
        (suite / name).write_text((source / name).read_text())
    (suite / "gold.jsonl").write_text((source / "gold.jsonl").read_text().replace(first, odd))

    def renamed(line: dict) -> dict:
        line["doc_id"] = odd
        return line

    run_a = with_lines(SEEDS_A, tmp_path / "a.jsonl", {first: renamed})
    run_b = with_lines(SEEDS_B, tmp_path / "b.jsonl", {first: renamed})
    comparison = compare_runs(run_a, run_b, suite)
    assert odd in {d.doc_id for d in comparison.documents}
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    console.print(overall_table(comparison))
    console.print(documents_table(comparison, limit=None))
    console.print(documents_table(comparison, limit=3))
    text = buffer.getvalue()
    assert odd in text and "fields.micro.f1" in text
    assert "2 more in the HTML page" in text
