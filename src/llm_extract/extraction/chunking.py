"""An article too long for the model's context, extracted in chunks and merged back into one record list.

Splitting: the article's sentences (sentences.py) are packed greedily into chunks whose prompt fits the limit, each
chunk starting OVERLAP_SENTENCES sentences before the previous one ended. A piece of text runs from one sentence's
start to the next one's, so the chunks cover the article exactly (the first starts at 0, the last ends at its end,
each starts at or before the previous one's end); a sentence longer than a whole chunk is cut at a space.

Why an overlap of two sentences: an incident reported across a chunk boundary is then read whole by at least one
chunk when its account opens in the last two sentences of a chunk, and the next chunk sees the sentence that
introduced it ("the attack" three lines on) -- while each chunk repeats only two sentences of input (about 50
tokens in news prose). More overlap buys context for the few incidents told over more sentences, at the price of
more records told twice that the merge must recognise.

Merging ("one article's chunks" is a narrower case than cross-article fusion, and needs none of its date or place
blocking): the chunks' records are taken in chunk order, and a record of chunk k+1 is the same incident as a record
of chunk k when the schema's SAME_RECORD says so (the rule extraction already uses for repeats within one answer), or
when their evidence (the schema's first grounded field, located in the chunk and shifted to article offsets) shares
characters: two chunks can only share the text of their overlap, so such a pair is one incident read twice. Each
record absorbs at most one record of the next chunk. The merged record is the telling with more evidence text (the
first on a tie), at the place of the first telling; the other is kept on the line as a repeat, never dropped silently.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llm_extract.core.errors import LLMExtractError
from llm_extract.extraction.annotate import ground_records
from llm_extract.extraction.extract import ExtractionResult, Usage
from llm_extract.extraction.prompts import PromptTemplate
from llm_extract.extraction.requests import (
    CHARS_PER_TOKEN,
    ExtractionRequest,
    PromptLimit,
    build_request,
    estimate_tokens,
)
from llm_extract.extraction.schema_loader import SchemaSpec
from llm_extract.inputs.documents import Document
from llm_extract.inputs.sentences import split_sentences

OVERLAP_SENTENCES = 2  # sentences each chunk repeats from the end of the one before (module doc)
# Chunks are filled to this share of the prompt limit: the limit is an estimate (4 characters a token), and a full
# chunk of upper-case MUC-4 text, estimated at the 2,048-token limit of local_ctx 4096, read as 2,374 tokens on the
# embedded server (its log), leaving the answer too little room: it was cut at the context and re-asked.
CHUNK_FILL = 0.8
MIN_CHUNK_CHARS = 200  # a prompt leaving less room than this for the article is not worth chunking
PLAN_ROUNDS = 4  # times a plan is tightened when a chunk's rendered prompt still exceeds the limit


class ChunkingError(LLMExtractError):
    """The article cannot be chunked under the limit (the prompt alone nearly fills it)."""


@dataclass(frozen=True)
class Chunk:
    number: int  # from 1
    start: int  # character offsets in the article, end exclusive
    end: int

    def as_dict(self) -> dict[str, int]:
        return {"number": self.number, "start": self.start, "end": self.end}


def _pieces(text: str, max_chars: int) -> list[tuple[int, int]]:
    """The text as consecutive (start, end) pieces covering it exactly: one per sentence (from its start to the
    next one's), a sentence longer than `max_chars` cut at its last space within the limit (else at the limit)."""
    starts = [0, *(sentence.start for sentence in split_sentences(text)[1:])]
    bounds = [*zip(starts, [*starts[1:], len(text)], strict=True)] if text else []
    pieces: list[tuple[int, int]] = []
    for start, end in bounds:
        while end - start > max_chars:
            space = text.rfind(" ", start + 1, start + max_chars)
            cut = space + 1 if space > start else start + max_chars
            pieces.append((start, cut))
            start = cut
        pieces.append((start, end))
    return pieces


def split_text(text: str, max_chars: int, overlap: int = OVERLAP_SENTENCES) -> tuple[Chunk, ...]:
    """Chunks of at most `max_chars` characters on sentence boundaries, each repeating up to `overlap` sentences of
    the one before (fewer where more would leave no room to move on); the whole text in one chunk when it fits."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, not {max_chars}")
    pieces = _pieces(text, max_chars)
    if not pieces:
        return (Chunk(1, 0, len(text)),)
    chunks: list[Chunk] = []
    first = 0
    while True:
        last = first
        while last + 1 < len(pieces) and pieces[last + 1][1] - pieces[first][0] <= max_chars:
            last += 1
        chunks.append(Chunk(len(chunks) + 1, pieces[first][0], pieces[last][1]))
        if last + 1 == len(pieces):
            return tuple(chunks)
        # the next chunk starts `overlap` pieces back, or fewer: it must reach at least one piece further
        following = max(last + 1 - overlap, first + 1)
        while pieces[last + 1][1] - pieces[following][0] > max_chars:
            following += 1
        first = following


@dataclass(frozen=True)
class ChunkPlan:
    """A too-long document's chunks and their requests; `whole` is the document's own request (what its line
    records: the text's hash, injections, grounding on the whole article), never sent."""

    whole: ExtractionRequest
    chunks: tuple[Chunk, ...]
    requests: tuple[ExtractionRequest, ...]

    @property
    def doc_id(self) -> str:
        return self.whole.doc_id


def _chunk_document(document: Document, chunk: Chunk) -> Document:
    return dataclasses.replace(document, text=document.text[chunk.start : chunk.end], pages=())


def plan_chunks(
    document: Document, prompt: PromptTemplate, limit: PromptLimit, overlap: int = OVERLAP_SENTENCES
) -> ChunkPlan:
    """The chunks whose rendered prompts fit CHUNK_FILL of `limit`: the room left beside the prompt's own text, in
    characters at the estimate's rate, tightened by what a rendered chunk still exceeds (numbering marks, escaped
    delimiters)."""
    target = math.floor(limit.tokens * CHUNK_FILL)
    overhead = sum(len(message["content"]) for message in prompt.render("", document.published))
    room = int(target * CHARS_PER_TOKEN) - overhead
    for _ in range(PLAN_ROUNDS):
        if room < MIN_CHUNK_CHARS:
            break
        chunks = split_text(document.text, room, overlap)
        requests = tuple(build_request(_chunk_document(document, chunk), prompt) for chunk in chunks)
        excess = max(estimate_tokens(request.messages) for request in requests) - target
        if excess <= 0:
            return ChunkPlan(build_request(document, prompt), chunks, requests)
        room -= math.ceil((excess + 1) * CHARS_PER_TOKEN)
    raise ChunkingError(
        f"cannot be chunked: the prompt without the article takes about {round(overhead / CHARS_PER_TOKEN)} of the "
        f"{target} tokens a chunk may take ({CHUNK_FILL:.0%} of {limit.tokens}: {limit.basis})"
    )


# ---- merging --------------------------------------------------------------------------------------------------


@dataclass
class Merged:
    """One document's result from its chunks' results, and what its line records of the chunking."""

    request: ExtractionRequest  # the whole document's, with an input note saying it was chunked
    result: ExtractionResult
    chunks: list[dict[str, Any]]  # per chunk: number, start, end, status, records (what its answer kept)


def _evidence(records: list[dict[str, Any]], chunk: Chunk, text: str, spec: SchemaSpec) -> list[set[int]]:
    """Per record, the article offsets its evidence covers (found in the chunk's text, shifted to the article)."""
    covered: list[set[int]] = []
    chunk_text = text[chunk.start : chunk.end]
    for record in records:
        spans = ground_records([record], chunk_text, spec, spec.grounded_fields[:1]) if spec.grounded_fields else []
        covered.append({offset for span in spans if span.start is not None and span.end is not None
                        for offset in range(chunk.start + span.start, chunk.start + span.end)})  # fmt: skip
    return covered


@dataclass
class _Telling:
    chunk: int  # chunk number
    index: int  # position in its chunk's answer
    record: dict[str, Any]
    evidence: set[int]


def _same(a: _Telling, b: _Telling, spec: SchemaSpec) -> str | None:
    """Why two tellings of adjacent chunks are one incident, or None."""
    if spec.same_record is not None and spec.same_record(a.record, b.record):
        return "same_record"
    return "shared evidence" if a.evidence & b.evidence else None


def merge_records(
    answers: Sequence[list[dict[str, Any]]], chunks: Sequence[Chunk], text: str, spec: SchemaSpec
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The chunks' records as one list (chunk order, then answer order; a repeat merged at its first telling) and
    the repeats merged away as {"chunk", "index", "merged_into", "by", "record"} (merged_into: position in the
    list). An incident told in chunks 1, 2 and 3 is matched chunk to chunk, by its latest telling."""
    kept: list[_Telling] = []  # per incident, the telling that stands for it (the fullest)
    latest: list[_Telling] = []  # per incident, its telling in the latest chunk that told it
    previous: list[int] = []  # incidents told in the previous chunk, not yet matched in this one
    repeats: list[dict[str, Any]] = []
    for chunk, records in zip(chunks, answers, strict=True):
        current: list[int] = []
        for index, (record, evidence) in enumerate(zip(records, _evidence(records, chunk, text, spec), strict=True)):
            telling = _Telling(chunk.number, index, record, evidence)
            match = next(((position, why) for position in previous if (why := _same(latest[position], telling, spec))),
                         None)  # fmt: skip
            if match is None:
                current.append(len(kept))
                kept.append(telling)
                latest.append(telling)
                continue
            position, why = match
            previous.remove(position)
            current.append(position)
            latest[position] = telling
            first = kept[position]
            fuller, other = (telling, first) if len(telling.evidence) > len(first.evidence) else (first, telling)
            kept[position] = fuller
            repeats.append({"chunk": other.chunk, "index": other.index, "merged_into": position, "by": why,
                            "record": other.record})  # fmt: skip
        previous = current
    return [telling.record for telling in kept], repeats


_WORST = {"ok": 0, "invalid": 1, "error": 2}


def merge_results(plan: ChunkPlan, results: Sequence[ExtractionResult], spec: SchemaSpec) -> Merged:
    """The document's result from its chunks' results, in chunk order (fewer than the chunks when a fatal endpoint
    error stopped the document): costs summed, records merged (merge_records) when every chunk is ok, else the
    worst chunk's status and error, naming the chunk. The repeats merged away join the line's `duplicates`."""
    total = len(plan.chunks)
    merged = ExtractionResult(doc_id=plan.doc_id, status="ok", data=None, usage=Usage())
    entries: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    salvage_errors: list[str] = []
    for chunk, result in zip(plan.chunks, results, strict=False):
        where = f"chunk {chunk.number} of {total} (characters {chunk.start}-{chunk.end})"
        merged.add_costs(result)
        merged.duplicates += [{"chunk": chunk.number, **repeat} for repeat in result.duplicates]
        merged.resolved += [{"chunk": chunk.number, **change} for change in result.resolved]
        if result.salvaged is not None:
            salvage_errors.append(f"{where}: {result.salvaged.get('error')}")
            removed += [{"chunk": chunk.number, **item} for item in result.salvaged.get("removed", [])]
        records = (result.data or {}).get(spec.list_field) if result.status == "ok" else None
        entries.append({**chunk.as_dict(), "status": result.status, "records": len(records or [])})
        if _WORST[result.status] > _WORST[merged.status]:
            merged.status, merged.error = result.status, f"{where}: {result.error}"
            merged.last_output = result.last_output
    if len(results) < total:
        entries += [{**chunk.as_dict(), "status": "not sent", "records": 0} for chunk in plan.chunks[len(results) :]]
        if merged.status == "ok":
            merged.status, merged.error = "error", f"chunks {len(results) + 1} to {total} were not sent"
    merged.cached = all(result.cached for result in results)
    merged.latency_s = round(merged.latency_s, 3)
    if salvage_errors:
        merged.salvaged = {"error": "; ".join(salvage_errors), "removed": removed}
    repeats: list[dict[str, Any]] = []
    if merged.status == "ok":
        answers = [(result.data or {}).get(spec.list_field) or [] for result in results]
        records, repeats = merge_records(answers, plan.chunks, plan.whole.document.text, spec)
        merged.data = {spec.list_field: records}
        merged.duplicates += repeats
    spans = ", ".join(f"{chunk.start}-{chunk.end}" for chunk in plan.chunks)
    note = f"chunked: {total} chunks (characters {spans}); {len(repeats)} records told in two chunks merged"
    document = plan.whole.document
    request = dataclasses.replace(plan.whole, document=dataclasses.replace(document, notes=(*document.notes, note)))
    return Merged(request, merged, entries)
