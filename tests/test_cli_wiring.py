"""The commands over the export, comparison and input-table libraries: what a user types reaches them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from llm_extract import load_run
from llm_extract.cli import app
from llm_extract.runs.runline import RunLine

ROOT = Path(__file__).resolve().parents[1]
SEED_RUN = ROOT / "evals" / "seeds" / "reference_run.jsonl"
OTHER_SEED_RUN = ROOT / "tests" / "data" / "scoring" / "seeds_run.jsonl"
WIDE = {"COLUMNS": "200", "TERM": "dumb"}


def invoke(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, args, env=WIDE)


def seed_lines() -> list[RunLine]:
    return load_run(SEED_RUN)


def test_export_writes_the_table_the_suffix_names_and_refuses_to_replace_it(tmp_path: Path) -> None:
    dest = tmp_path / "seeds.csv"
    result = invoke(["export", str(SEED_RUN), "--to", str(dest)])
    assert result.exit_code == 0, result.output
    incidents = sum(len(line.records) for line in seed_lines())
    assert incidents
    assert f"{incidents} incidents rows" in result.output
    assert len(pd.read_csv(dest)) == incidents
    before = dest.read_bytes()
    again = invoke(["export", str(SEED_RUN), "-o", str(dest)])
    assert again.exit_code == 2 and "--force" in again.output and dest.read_bytes() == before
    forced = invoke(["export", str(SEED_RUN), "--output", str(dest), "--force", "--table", "documents"])
    assert forced.exit_code == 0, forced.output
    assert len(pd.read_csv(dest)) == len(seed_lines())  # the documents table now


def test_export_names_the_suffixes_it_knows(tmp_path: Path) -> None:
    result = invoke(["export", str(SEED_RUN), "--to", str(tmp_path / "seeds.txt")])
    assert result.exit_code == 2 and ".parquet" in result.output and "Traceback" not in result.output


def test_eval_compare_is_routed_to_compare_and_writes_the_page(tmp_path: Path) -> None:
    page = tmp_path / "compare.html"
    routed = invoke(["eval", "compare", str(SEED_RUN), str(OTHER_SEED_RUN), "--suite", "seeds", "-o", str(page)])
    direct = invoke(["compare", str(SEED_RUN), str(OTHER_SEED_RUN), "--suite", "seeds"])
    assert routed.exit_code == 0 and direct.exit_code == 0, routed.output + direct.output
    assert "1 worse, 4 better" in routed.output and "1 worse, 4 better" in direct.output
    assert page.read_text(encoding="utf-8").count("<section") >= 5
    other = tmp_path / "notes.html"
    other.write_text("<html>my own notes</html>")
    refused = invoke(["compare", str(SEED_RUN), str(OTHER_SEED_RUN), "--suite", "seeds", "-o", str(other)])
    assert refused.exit_code == 2 and other.read_text() == "<html>my own notes</html>"


def test_eval_still_takes_a_suite_named_like_a_word(tmp_path: Path) -> None:
    result = invoke(["eval", "seeds", "--run", str(SEED_RUN), "-o", str(tmp_path / "out")])
    assert result.exit_code in (0, 1), result.output  # 1: the plain reference is under the suite's gates
    assert (tmp_path / "out" / "report.json").is_file()


def test_extract_columns_flag_reads_a_csv_list_in_a_dry_run(tmp_path: Path) -> None:
    table = tmp_path / "articles.csv"
    pd.DataFrame({"ID": ["a1", "a2"], "body": ["A bomb exploded in Lima.", "Two soldiers were killed."]}).to_csv(
        table, index=False
    )
    result = invoke(["extract", str(table), "--dry-run", "--columns", "text=body,id=ID"])
    assert result.exit_code == 0, result.output
    assert "a1" in result.output and "a2" in result.output
    bad = invoke(["extract", str(table), "--dry-run", "--columns", "textbody"])
    assert bad.exit_code == 2 and "--columns" in bad.output


def test_eval_warns_when_the_run_covers_part_of_the_suite(tmp_path: Path) -> None:
    partial = tmp_path / "partial.jsonl"
    partial.write_text(SEED_RUN.read_text().splitlines()[0] + "\n")
    result = invoke(["eval", "seeds", "--run", str(partial), "-o", str(tmp_path / "out")])
    assert "covers 1 of the 5 gold documents" in " ".join(result.output.split()), result.output
    assert json.loads((tmp_path / "out" / "report.json").read_text())


def reviewed_copy(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the seed run with one record rejected in its review store."""
    from llm_extract.review.corrections import CorrectionStore

    run = tmp_path / "run.jsonl"
    run.write_bytes(SEED_RUN.read_bytes())
    first = next(line for line in seed_lines() if line.records)
    CorrectionStore.beside(run).add(doc_id=first.doc_id, action="reject", who="tester", record_index=0)
    return run, first.doc_id


def test_export_corrected_applies_the_review_decisions(tmp_path: Path) -> None:
    run, _doc = reviewed_copy(tmp_path)
    before = run.read_bytes()
    table = invoke(["export", str(run), "--corrected", "--to", str(tmp_path / "corrected.csv")])
    assert table.exit_code == 0, table.output
    incidents = sum(len(line.records) for line in seed_lines())
    assert len(pd.read_csv(tmp_path / "corrected.csv")) == incidents - 1
    as_run = invoke(["export", str(run), "--corrected", "-o", str(tmp_path / "corrected.jsonl")])
    assert as_run.exit_code == 0, as_run.output
    assert sum(len(line.records) for line in load_run(tmp_path / "corrected.jsonl")) == incidents - 1
    assert run.read_bytes() == before  # the run itself is never written
    lonely = invoke(["export", str(run), "--db", str(tmp_path / "x.sqlite"), "--to", str(tmp_path / "y.csv")])
    assert lonely.exit_code == 2 and "--corrected" in lonely.output


def test_gold_add_appends_the_reviewed_documents_to_the_suite(tmp_path: Path) -> None:
    import shutil

    suite = tmp_path / "seeds"
    shutil.copytree(ROOT / "evals" / "seeds", suite)
    run, doc = reviewed_copy(tmp_path)
    gold = suite / "gold.jsonl"
    kept = [line for line in gold.read_text().splitlines() if json.loads(line)["doc_id"] != doc]
    gold.write_text("".join(line + "\n" for line in kept))
    result = invoke(["gold", "add", str(suite), "--from", str(run)])
    assert result.exit_code == 0, result.output
    assert "1 documents added" in result.output
    assert json.loads(gold.read_text().splitlines()[-1])["doc_id"] == doc
    again = invoke(["gold", "add", str(suite), "--from", str(run)])
    assert again.exit_code == 2 and "--replace" in again.output


def test_a_dry_run_says_a_long_article_will_be_sent_in_chunks(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("Shelling hit the town again. " * 800)  # ~23,000 characters
    (tmp_path / "short.txt").write_text("A bomb exploded in Lima today.")
    from llm_extract import api, load_settings

    items = {item.doc_id: item for item in api.dry_run([tmp_path], load_settings(context_tokens=2048, max_tokens=512))}
    assert items["short"].error is None
    note = items["long"].error or ""
    assert note.startswith("too long") and "will be sent in" in note and "chunks" in note
