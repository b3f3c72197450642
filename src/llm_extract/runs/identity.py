"""The identity of a piece of work: one definition, used by resume, the response cache and the manifest.

Two requests are "the same work" when everything that reaches the model or decides what its answer becomes is
the same: the weights (their sha256 for the embedded server; for a remote server the model name stands for
them, and its URL does not count, so a replica or a moved server resumes the same work), the prompt and schema
(their file hashes), the sampling and re-ask settings, and per document the text and the publication date the
prompt shows. Settings that only change how the work is carried out (concurrency, retries, timeouts, threads)
are not part of it, so a rerun with another `-j` still resumes.

Defined three times before, the definitions disagreed: the resume key ignored the weights and the publication
date, so a run with other weights or a corrected date kept the old answers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from llm_extract.core.config import Settings
from llm_extract.extraction.fill import load_fill
from llm_extract.extraction.prompts import PromptTemplate
from llm_extract.extraction.schema_loader import SchemaSpec

IDENTITY_VERSION = 2  # raise when the material below changes meaning: old keys then never match by accident


def _digest(material: Any) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


@cache
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """A weights file's sha256, computed once per process for each (path, size, mtime)."""
    from llm_extract.providers.local_model import sha256_of

    return sha256_of(Path(path))


def weights_sha256(model_path: Path) -> str:
    stat = os.stat(model_path)
    return _file_sha256(str(Path(model_path).resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class WorkIdentity:
    """What a run's answers depend on, known before any server starts."""

    endpoint: str  # "embedded:<weights sha256>", or "remote" (then `model` names the weights)
    model: str
    prompt_sha256: str
    schema_sha256: str
    temperature: float
    max_tokens: int
    seed: int | None
    mode: str
    max_reasks: int
    require_grounding: bool
    salvage: bool
    fill_sha256: str | None = None  # the fill prompt's (extraction/fill.py); None: no fill, and not in the key

    @classmethod
    def of(cls, settings: Settings, prompt: PromptTemplate, schema: SchemaSpec) -> WorkIdentity:
        if settings.uses_embedded_model:
            from llm_extract.providers.local_model import MODEL_SHA256
            from llm_extract.providers.local_server import MODEL_ALIAS

            sha = weights_sha256(settings.model_path) if settings.model_path is not None else MODEL_SHA256
            endpoint, model = f"embedded:{sha}", MODEL_ALIAS
        else:
            endpoint, model = "remote", settings.model or ""
        return cls(
            endpoint=endpoint, model=model, prompt_sha256=prompt.sha256, schema_sha256=schema.sha256,
            temperature=settings.temperature, max_tokens=settings.max_tokens, seed=settings.seed, mode=settings.mode,
            max_reasks=settings.max_reasks, require_grounding=settings.require_grounding, salvage=settings.salvage,
            fill_sha256=load_fill(settings.fill).sha256 if settings.fill else None,
        )  # fmt: skip

    def without_fill(self) -> WorkIdentity:
        """The identity of the document's first answer: the response cache keys on it, so a run with a fill prompt
        reuses the answers a run without one stored, and pays only for the fills."""
        return dataclasses.replace(self, fill_sha256=None)

    def describe(self) -> dict[str, Any]:
        """For the manifest: every component, so a later run can say which one differs."""
        described = {"version": IDENTITY_VERSION, **asdict(self)}
        if self.fill_sha256 is None:
            del described["fill_sha256"]  # runs without a fill keep the keys they had before fills existed
        return described

    @functools.cached_property
    def _description(self) -> dict[str, Any]:
        """describe(), made once: each document's key starts with it, twice a document (asdict was most of it)."""
        return self.describe()

    def document_key(self, text_sha256: str, published: str | None) -> str:
        """The key of one document's work: resume skips it, the response cache answers it, when it matches."""
        return _digest([self._description, text_sha256, published])

    def differences(self, recorded: dict[str, Any]) -> list[str]:
        """The components that differ from a manifest's recorded identity, as 'name: old -> new'."""
        current = self.describe()
        names = [*current, *(name for name in recorded if name == "fill_sha256" and name not in current)]
        return [
            f"{name}: {recorded.get(name)!r} -> {current.get(name)!r}"
            for name in names
            if recorded.get(name) != current.get(name)
        ]
