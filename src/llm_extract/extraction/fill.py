"""Per-incident extraction: each line of the answer's plan that got no record is filled by a call of its own.

A 1.5B model writes a plan of two or three incidents and then fills one record (on muc4-incidents' first 50 TST2
documents, 46 answers kept one record while 21 plans had more lines than records). A fill prompt (`kind = "fill"`
in prompts/, given as `--fill`) asks, after the document's own messages, for the record of one plan line at a
time: the article stays the prompt's prefix, so the server's prompt cache processes it once. The first answer is
the document's request unchanged, so its cached answer is reused and a fill prompt costs only the fills
(identity.WorkIdentity keys the cache without the fill; each fill by that key and its message, runs/cache.py).
A fill's record goes through the same re-asks, salvage and resolution as any answer; one that repeats a record
already kept (the schema's SAME_RECORD) joins the line's `duplicates`. A fill that fails leaves the document's
first answer as it was: the line's `fills` says which plan line failed and why.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from llm_extract.core.errors import PromptNotFound
from llm_extract.core.resources import find_resource
from llm_extract.core.text import fold_name
from llm_extract.extraction.extract import ExtractionResult, PriorAnswer, RecordExtractor
from llm_extract.extraction.prompts import FILL_KIND, check_templates, read_prompt_file, render_template
from llm_extract.extraction.requests import ExtractionRequest


@dataclass(frozen=True)
class FillTemplate:
    """A fill prompt file: the message that asks for one plan line's record, and which field holds the plan."""

    name: str
    path: Path
    sha256: str  # of the file: part of the work's identity when a run fills
    plan_field: str  # the response model's list of plan lines (incident_v1: "attacks")
    message: str  # jinja: `plan` (the lines), `number` (1-based) and `line`
    max_lines: int  # the most plan lines filled per answer: each costs one call
    refill_repeats: bool = False  # also ask for lines whose record the answer gave as a copy of another

    def render(self, plan: list[str], number: int) -> str:
        return render_template(self.message, plan=plan, number=number, line=plan[number - 1])


@cache
def load_fill(name_or_path: str) -> FillTemplate:
    path = find_resource("prompts", name_or_path, ".toml")
    if path is None:
        raise PromptNotFound(f"no fill prompt '{name_or_path}': give a prompts/ name or a .toml path")
    raw, data = read_prompt_file(path)
    if data.get("kind") != FILL_KIND:
        raise PromptNotFound(f'{path} is not a fill prompt (it lacks kind = "fill"): give it as --prompt instead')
    problems = [key for key in ("plan", "message") if not isinstance(data.get(key), str)]
    max_lines = data.get("max_lines", 2)
    if not isinstance(max_lines, int) or isinstance(max_lines, bool) or max_lines < 1:
        problems.append("max_lines (a whole number, 1 or more)")
    refill_repeats = data.get("refill_repeats", False)
    if not isinstance(refill_repeats, bool):
        problems.append("refill_repeats (true or false)")
    if problems:
        raise PromptNotFound(f"fill prompt {path} lacks {', '.join(problems)}")
    check_templates(path, data, ("message",))
    return FillTemplate(
        name=data.get("name", path.stem),
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        plan_field=data["plan"],
        message=data["message"],
        max_lines=max_lines,
        refill_repeats=refill_repeats,
    )


def unfilled_lines(plan: list[str], answered: int, max_lines: int, repeated: frozenset[int] = frozenset()) -> list[int]:
    """The 1-based numbers of the plan lines without a kept record: those after the first `answered` (the model
    fills in plan order) and those whose record was dropped as a repeat (`repeated`: 0-based answer indexes), less
    blank lines and lines that repeat another line, at most `max_lines` of them."""
    kept = [number for number in range(1, min(answered, len(plan)) + 1) if number - 1 not in repeated]
    seen = {fold_name(plan[number - 1]) for number in kept}
    numbers: list[int] = []
    for number, line in enumerate(plan, start=1):
        folded = fold_name(line)
        if number in kept or not folded or folded in seen:
            continue
        seen.add(folded)
        if len(numbers) < max_lines:
            numbers.append(number)
    return numbers


class FillingExtractor:
    """Wraps the document's extractor (often the caching one): its answer, then one fill call per unfilled plan
    line through `filler` (an Extractor asking for exactly one record, or the caching one around it)."""

    def __init__(self, inner: RecordExtractor, filler: RecordExtractor, template: FillTemplate) -> None:
        if template.plan_field not in inner.schema.response_model.model_fields:
            raise PromptNotFound(
                f"fill prompt {template.name}: schema {inner.schema.name} has no plan field {template.plan_field!r} "
                "to fill from (its prompt's answer must list the incidents first)"
            )
        self.inner = inner
        self.filler = filler
        self.template = template
        self.schema, self.prompt, self.params = inner.schema, inner.prompt, inner.params

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def extract(self, request: ExtractionRequest, prior: PriorAnswer | None = None) -> ExtractionResult:
        result = await self.inner.extract(request, prior)
        if result.status != "ok" or result.data is None:
            return result
        plan = [str(line) for line in result.data.get(self.template.plan_field) or []]
        field = self.schema.list_field
        records = list(result.data.get(field) or [])
        answered = len(records) + len(result.duplicates)  # the answer's records before its repeats were dropped
        entries: list[dict[str, Any]] = []
        all_cached = result.cached
        repeated = (
            frozenset(repeat["index"] for repeat in result.duplicates) if self.template.refill_repeats else frozenset()
        )
        for number in unfilled_lines(plan, answered, self.template.max_lines, repeated):
            messages = [*request.messages, {"role": "user", "content": self.template.render(plan, number)}]
            filled = await self.filler.extract(dataclasses.replace(request, messages=messages))
            result.add_costs(filled)
            all_cached = all_cached and filled.cached
            entry: dict[str, Any] = {"line": number, "text": plan[number - 1], "status": filled.status, "records": 0}
            if filled.status != "ok" or filled.data is None:
                entry["error"] = filled.error
                entries.append(entry)
                if filled.fatal:
                    break
                continue
            for record in filled.data.get(field) or []:
                index = answered  # where the record stands in the answer, fills counted after the first answer
                answered += 1
                same_as = next((i for i, kept in enumerate(records) if self.schema.same_record and
                                self.schema.same_record(kept, record)), None)  # fmt: skip
                if same_as is not None:
                    result.duplicates.append({"index": index, "same_as": same_as, "record": record, "fill": number})
                    continue
                records.append(record)
                entry["records"] += 1
            result.resolved += [{**change, "fill": number} for change in filled.resolved]
            if filled.salvaged is not None:
                entry["salvaged"] = filled.salvaged
            entries.append(entry)
        if entries:
            result.data = {**result.data, field: records}
            result.fills, result.cached = entries, all_cached
            result.latency_s = round(result.latency_s, 3)
        return result
