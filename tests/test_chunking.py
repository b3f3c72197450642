"""Articles longer than the model's context: split on sentences with overlap, extracted in chunks, merged."""

from __future__ import annotations

import copy
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_extract.api import extract_batch
from llm_extract.core.config import load_settings
from llm_extract.extraction.chunking import (
    Chunk,
    ChunkingError,
    merge_records,
    merge_results,
    plan_chunks,
    split_text,
)
from llm_extract.extraction.extract import ExtractionResult, Usage
from llm_extract.extraction.prompts import load_prompt
from llm_extract.extraction.requests import PromptLimit, estimate_tokens
from llm_extract.extraction.schema_loader import load_schema
from llm_extract.inputs.documents import Document
from llm_extract.inputs.sentences import split_sentences
from llm_extract.runs.store import read_lines
from llm_extract.testing.fake_openai import FakeOpenAI

SPEC = load_schema("incident_v1")
SENTENCES = [f"Report {n}: the council met in the square and spoke for a while." for n in range(1, 41)]
TEXT = " ".join(SENTENCES)  # 40 sentences of about 64 characters


def check_cover(text: str, chunks: tuple[Chunk, ...], max_chars: int) -> None:
    """The chunks cover the text exactly, in order, each within the limit and moving on."""
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert [chunk.number for chunk in chunks] == list(range(1, len(chunks) + 1))
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start <= before.end < after.end
    assert all(chunk.end - chunk.start <= max_chars for chunk in chunks)


def test_split_on_sentence_starts_with_two_sentences_of_overlap() -> None:
    chunks = split_text(TEXT, 700)
    check_cover(TEXT, chunks, 700)
    assert len(chunks) > 3
    starts = {sentence.start for sentence in split_sentences(TEXT)}
    assert all(chunk.start in starts for chunk in chunks[1:]), "every chunk opens on a sentence"
    for before, after in itertools.pairwise(chunks):
        shared = TEXT[after.start : before.end].strip()
        assert len(split_sentences(shared)) == 2, shared  # the overlap: the last two sentences of the chunk before
    assert split_text(TEXT, len(TEXT)) == (Chunk(1, 0, len(TEXT)),)


def test_overlap_is_a_parameter_and_zero_means_none() -> None:
    chunks = split_text(TEXT, 700, overlap=0)
    check_cover(TEXT, chunks, 700)
    assert all(before.end == after.start for before, after in itertools.pairwise(chunks))
    assert len(split_text(TEXT, 700, overlap=3)) > len(split_text(TEXT, 700, overlap=1))


def test_a_sentence_longer_than_a_chunk_is_cut_at_spaces() -> None:
    long = "The convoy moved " + "slowly past the burning fields " * 20 + "at dawn."
    text = f"Shelling began at noon. {long} Two people died."
    chunks = split_text(text, 120)
    check_cover(text, chunks, 120)
    inner = [chunk for chunk in chunks if text.index(long) < chunk.start < text.index(long) + len(long)]
    assert inner, "the long sentence is split"
    assert all(text[chunk.start - 1] == " " for chunk in inner), "cut after a space, not inside a word"
    unbroken = "x" * 50
    assert split_text(unbroken, 20) == (Chunk(1, 0, 20), Chunk(2, 20, 40), Chunk(3, 40, 50))


def test_plan_fits_every_chunk_under_the_limit_and_keeps_the_document() -> None:
    prompt = load_prompt("incident_v2")  # numbers the sentences: the marks count against the limit too
    document = Document(id="long", text=TEXT, origin="long.txt", published="2024-03-01", url="https://e.org/a")
    limit = PromptLimit(1200, "test")
    plan = plan_chunks(document, prompt, limit)
    assert len(plan.chunks) > 1 and plan.whole.document is document
    for chunk, request in zip(plan.chunks, plan.requests, strict=True):
        assert estimate_tokens(request.messages) <= limit.tokens
        assert request.document.text == TEXT[chunk.start : chunk.end]
        assert (request.document.id, request.document.published) == ("long", "2024-03-01")
    check_cover(TEXT, plan.chunks, len(TEXT))
    with pytest.raises(ChunkingError, match="prompt without the article takes about"):
        plan_chunks(document, prompt, PromptLimit(100, "tiny"))


REAL_PDF = Path(__file__).parent / "data" / "formats" / "pdf" / "ssi_manwaring.pdf"
MUC4_DOCS = Path(__file__).resolve().parents[1] / "evals" / "muc4-incidents" / "docs.jsonl"


def real_long_texts() -> list[Document]:
    """An 88-page PDF report read by the PDF input, and ten MUC-4 news documents joined into one text."""
    from llm_extract.inputs.documents import iter_inputs

    (report,) = iter_inputs([REAL_PDF])
    assert isinstance(report, Document), report
    news = [json.loads(line)["text"] for line in MUC4_DOCS.read_text(encoding="utf-8").splitlines()[:10]]
    return [report, Document(id="muc4-joined", text="\n\n".join(news), origin="docs.jsonl")]


@pytest.mark.parametrize("index", [0, 1], ids=["pdf-report", "muc4-joined"])
def test_real_long_texts_plan_into_chunks_that_cover_them_under_the_limit(index: int) -> None:
    document = real_long_texts()[index]
    limit = PromptLimit(4096 - 2048, "local_ctx 4096 - max_tokens 2048")
    plan = plan_chunks(document, load_prompt("incident_v4"), limit)
    assert len(plan.chunks) > 2
    check_cover(document.text, plan.chunks, len(document.text))
    starts = {sentence.start for sentence in split_sentences(document.text)}
    assert sum(chunk.start in starts for chunk in plan.chunks[1:]) >= 0.9 * (len(plan.chunks) - 1)
    assert all(estimate_tokens(request.messages) <= limit.tokens for request in plan.requests)


def incident(evidence: str, site: str | None = None, killed: int | None = None) -> dict:
    count = {"min": None, "max": None, "text": None}
    return {
        "role": "main", "sub_event_type": "attack", "weapons": [],
        "date": {"start": "2024-03-01", "end": None, "precision": "day", "text": None},
        "location": {"site": site, "town": None, "region": None, "country": None, "precision": "unknown"},
        "perpetrators": [], "claimed_by": [], "targets": [], "outcome": {"intercepted": None, "damage": None},
        "casualties": {"killed": {**count, "min": killed, "max": killed}, "injured": count},
        "evidence": [evidence],
    }  # fmt: skip


def test_merge_joins_tellings_across_the_overlap_and_keeps_the_rest_in_order() -> None:
    chunks = split_text(TEXT, 700)
    one, two, three = chunks[:3]
    in_overlap = TEXT[two.start : one.end].strip().split(". ")[0]  # a sentence both chunk 1 and chunk 2 hold
    only_one = SENTENCES[0].rstrip(".")
    only_two = TEXT[one.end : two.end].strip().split(". ")[0]
    fuller = incident(f"{in_overlap}. {only_two}", site="the square", killed=2)  # chunk 2 read on: the toll too
    answers = [
        [incident(only_one, killed=1), incident(in_overlap, site="the square")],
        [fuller, incident(only_two, killed=4)],
        [incident(TEXT[three.start : three.end][:30], killed=9)],
    ]
    records, repeats = merge_records(answers, [one, two, three], TEXT, SPEC)
    assert records == [answers[0][0], fuller, answers[1][1], answers[2][0]], "first-telling order, fuller telling"
    assert repeats == [
        {"chunk": 1, "index": 1, "merged_into": 1, "by": "shared evidence", "record": answers[0][1]},
    ]


def test_merge_by_the_schemas_same_record_chains_over_three_chunks_one_to_one() -> None:
    chunks = split_text(TEXT, 700)[:3]
    told = incident("not in the text at all", site="the square", killed=2)
    answers = [[told, copy.deepcopy(told)], [copy.deepcopy(told)], [copy.deepcopy(told)]]
    records, repeats = merge_records(answers, chunks, TEXT, SPEC)
    # chunk 1 told it twice (extraction's own dedupe handles that within an answer); each later telling merges once
    assert len(records) == 2
    assert [(r["chunk"], r["merged_into"], r["by"]) for r in repeats] == [(2, 0, "same_record"), (3, 0, "same_record")]


def test_merge_keeps_records_of_chunks_that_do_not_overlap() -> None:
    chunks = split_text(TEXT, 700)
    first, third = chunks[0], chunks[2]
    assert first.end <= third.start
    answers = [[incident(SENTENCES[0], killed=1)], [], [incident(SENTENCES[0], killed=3)]]
    records, repeats = merge_records(answers, [first, chunks[1], third], TEXT, SPEC)
    assert len(records) == 2 and repeats == []


def result(status: str, records: list | None, **counts: object) -> ExtractionResult:
    data = {"incidents": records} if records is not None else None
    return ExtractionResult(doc_id="long", status=status, data=data, usage=Usage(100, 10), attempts=1, **counts)  # type: ignore[arg-type]


def test_merged_result_sums_costs_and_a_failed_chunk_names_itself() -> None:
    document = Document(id="long", text=TEXT, origin="long.txt")
    plan = plan_chunks(document, load_prompt("incident_v4"), PromptLimit(1200, "test"))
    ok = [result("ok", [], reasks=1) for _ in plan.chunks]
    merged = merge_results(plan, ok, SPEC)
    assert merged.result.status == "ok" and merged.result.data == {"incidents": []}
    assert (merged.result.usage.prompt_tokens, merged.result.attempts, merged.result.reasks) == (
        100 * len(plan.chunks), len(plan.chunks), len(plan.chunks))  # fmt: skip
    assert [entry["status"] for entry in merged.chunks] == ["ok"] * len(plan.chunks)
    assert merged.request.document.notes[-1].startswith(f"chunked: {len(plan.chunks)} chunks (characters 0-")
    second = plan.chunks[1]
    invalid = merge_results(plan, [ok[0], result("invalid", None, error="bad answer"), *ok[2:]], SPEC)
    assert (invalid.result.status, invalid.result.data) == ("invalid", None), "no partial record list"
    assert invalid.result.error == f"chunk 2 of {len(plan.chunks)} (characters {second.start}-{second.end}): bad answer"
    stopped = merge_results(plan, [ok[0], result("error", None, error="no such model", fatal=True)], SPEC)
    assert stopped.result.status == "error" and stopped.result.fatal
    assert [entry["status"] for entry in stopped.chunks][:3] == ["ok", "error", "not sent"]


# ---- through the runner, against the loopback fake server ---------------------------------------------------

LONG = " ".join(f"Shelling hit the town of Kharkiv on Monday, residents said in report {n}." for n in range(300))
EVIDENCE = "Shelling hit the town of Kharkiv on Monday, residents said in report 7"  # in the first chunk only


def answer() -> str:
    record = incident(EVIDENCE)
    record["location"]["town"] = "Kharkiv"
    return json.dumps({"attacks": ["shelling of Kharkiv"], "incidents": [record]})


def write_docs(folder: Path) -> None:
    folder.mkdir()
    (folder / "long.txt").write_text(LONG)  # about 22,000 characters
    (folder / "short.txt").write_text("Shelling hit the town of Kharkiv on Monday.")


def test_a_too_long_article_is_extracted_in_chunks_into_one_ok_line(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs")
    output = tmp_path / "out.jsonl"
    with FakeOpenAI(answer=answer()) as fake:
        settings = load_settings(base_url=fake.base_url, model="fake", context_tokens=2048, max_tokens=512)
        summary = extract_batch([tmp_path / "docs"], output, settings)
        sent = [request["messages"][-1]["content"] for request in fake.requests]
    lines = {json.loads(line)["doc_id"]: json.loads(line) for line in output.read_text().splitlines()}
    assert summary.stats.statuses["ok"] == 2 and len(lines) == 2
    long = lines["long"]
    chunks = long["chunks"]
    assert len(chunks) > 3 and len(sent) == len(chunks) + 1, "each chunk sent once, the short article once"
    assert chunks[0]["start"] == 0 and chunks[-1]["end"] == len(LONG)
    assert all(entry["status"] == "ok" and entry["records"] == 1 for entry in chunks)
    assert all(LONG[entry["start"] : entry["end"]] in "".join(sent) for entry in chunks), "each chunk's own text"
    assert len(long["incidents"]) == 1, "the chunks' tellings (the same record) merged into one"
    assert {repeat["by"] for repeat in long["duplicates"]} == {"same_record"}
    assert long["input_notes"][-1].startswith(f"chunked: {len(chunks)} chunks (characters 0-")
    evidence = next(span for span in long["grounding"] if span["path"] == "incidents[0].evidence[0]")
    assert LONG[evidence["start"] : evidence["end"]] == EVIDENCE, "grounded at its offsets in the whole article"
    assert long["usage"]["prompt_tokens"] == 100 * len(chunks) and long["attempts"] == len(chunks)
    assert "chunks" not in lines["short"]
    with FakeOpenAI(answer=answer()) as fake:  # a rerun: done, not sent again, not written twice
        again = extract_batch([tmp_path / "docs"], output, settings)
        assert fake.requests == [] and again.stats.resumed == 2
    assert [json.loads(line)["doc_id"] for line in output.read_text().splitlines()].count("long") == 1


def test_a_run_killed_between_chunks_then_rerun_writes_the_article_once(tmp_path: Path) -> None:
    """The real CLI, SIGKILLed while the long article's chunks are being sent; the rerun redoes it whole."""
    write_docs(tmp_path / "docs")
    output = tmp_path / "out.jsonl"
    cli = Path(sys.executable).with_name("llm-extract")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLM_EXTRACT_", "OPENAI_"))}
    env["LLM_EXTRACT_CACHE_DIR"] = str(tmp_path)
    with FakeOpenAI(answer=answer(), latency_s=0.3) as fake:
        command = [str(cli), "extract", str(tmp_path / "docs"), "-o", str(output), "-j", "1", "--model", "fake",
                   "--base-url", fake.base_url, "--context-tokens", "2048", "--max-tokens", "512"]  # fmt: skip
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len(fake.requests) < 2 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.02)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        stored = {line.doc_id for line in read_lines(output)[0]} if output.exists() else set()
        assert "long" not in stored, "killed between its chunks: the long article has no line yet"
        rerun = subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
        assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(record["doc_id"] for record in records) == ["long", "short"]
    long = next(record for record in records if record["doc_id"] == "long")
    assert long["status"] == "ok" and len(long["incidents"]) == 1 and len(long["chunks"]) > 3


def test_a_prompt_that_leaves_no_room_for_any_chunk_is_refused_with_both_reasons(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "long.txt").write_text(LONG)
    output = tmp_path / "out.jsonl"
    with FakeOpenAI(answer=answer()) as fake:
        settings = load_settings(base_url=fake.base_url, model="fake", context_tokens=1300, max_tokens=512)
        extract_batch([tmp_path / "docs"], output, settings)
        assert fake.requests == [], "never sent"
    (line,) = [json.loads(line) for line in output.read_text().splitlines()]
    assert (line["status"], line["error_kind"]) == ("error", "input")
    assert (
        line["error"].startswith("too long: about ")
        and "the limit is 788 (context_tokens 1300 - max_tokens 512)" in line["error"]
    )
    assert "; cannot be chunked: the prompt without the article takes about " in line["error"]
