"""A response cache: the same request to the same model with the same settings is answered from disk.

Key: the document's work key (llm_extract.runs.identity: weights or endpoint, model, prompt and schema hashes,
sampling and re-ask settings, the text and its publication date), the same key that resume uses; for a fill call
(extraction/fill.py) that key without the fill, and the fill's message. Only
finished answers (ok or invalid) are kept; transport errors are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llm_extract.extraction.extract import ExtractionResult, PriorAnswer, RecordExtractor, Usage
from llm_extract.extraction.requests import ExtractionRequest
from llm_extract.runs.identity import WorkIdentity

CACHEABLE = {"ok", "invalid"}


class ResponseCache:
    """One JSON file per key under `directory` (written atomically)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, path)


class CachingExtractor:
    """Wraps an Extractor: answers from the cache when it can, and stores what the model answers."""

    def __init__(
        self, extractor: RecordExtractor, cache: ResponseCache, identity: WorkIdentity, per_message: bool = False
    ) -> None:
        self.inner = extractor
        self.cache = cache
        self.identity = identity
        self.per_message = per_message  # fill calls (fill.py): one document, one answer per last message
        self.schema, self.prompt, self.params = extractor.schema, extractor.prompt, extractor.params

    def key(self, request: ExtractionRequest) -> str:
        key = self.identity.document_key(request.text_sha256, request.document.published)
        if not self.per_message:
            return key
        material = json.dumps([key, "fill", request.messages[-1]["content"]], ensure_ascii=True)
        return hashlib.sha256(material.encode()).hexdigest()

    def is_cached(self, request: ExtractionRequest) -> bool:
        return self.cache.get(self.key(request)) is not None

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def extract(self, request: ExtractionRequest, prior: PriorAnswer | None = None) -> ExtractionResult:
        if prior is not None:  # continues an answer obtained elsewhere: not the cached request's own story
            return await self.inner.extract(request, prior)
        key = self.key(request)
        if (stored := self.cache.get(key)) is not None:
            result = ExtractionResult(**{**stored, "doc_id": request.doc_id, "usage": Usage(**stored["usage"])})
            result.cached = True
            return result
        result = await self.inner.extract(request)
        if result.status in CACHEABLE:
            self.cache.put(key, {**asdict(result), "doc_id": request.doc_id})
        return result
