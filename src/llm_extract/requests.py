"""Documents become extraction requests: rendered messages plus the keys that identify the work."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from llm_extract.documents import Document
from llm_extract.prompts import Message, PromptTemplate
from llm_extract.schema_loader import SchemaSpec


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resume_key(text_hash: str, prompt: PromptTemplate, schema: SchemaSpec, model: str) -> str:
    """Same text, prompt, schema and model means the same work: a rerun may skip it."""
    material = json.dumps([text_hash, prompt.sha256, schema.sha256, model])
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class ExtractionRequest:
    document: Document
    messages: list[Message]
    text_sha256: str
    resume_key: str

    @property
    def doc_id(self) -> str:
        return self.document.id


def build_request(document: Document, prompt: PromptTemplate, schema: SchemaSpec, model: str) -> ExtractionRequest:
    text_hash = text_sha256(document.text)
    return ExtractionRequest(
        document=document,
        messages=prompt.render(document.text, document.published),
        text_sha256=text_hash,
        resume_key=resume_key(text_hash, prompt, schema, model),
    )
