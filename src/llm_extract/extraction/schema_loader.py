"""Load an extraction schema (a Pydantic model in schemas/) by name or path, with its hash and JSON Schema."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from llm_extract.core.errors import SchemaNotFound
from llm_extract.core.resources import bundled_names, find_resource
from llm_extract.extraction.record_type import TypeModel, load_type_model
from llm_extract.extraction.relevance import RelevanceModel, load_relevance_model
from llm_extract.extraction.roles import RoleLexicon, load_role_lexicon

TRAINED_FILES = (
    "ROLE_LEXICON",
    "TYPE_MODEL",
    "RELEVANCE_MODEL",
)  # module constants naming files beside the schema file


@dataclass(frozen=True)
class SchemaSpec:
    """A loaded schema: the model the LLM fills, and the identity a run records."""

    name: str
    path: Path
    response_model: type[BaseModel]
    sha256: str  # of the schema file: any change, validators included, is a new schema
    list_field: str  # the response model's list of records (e.g. 'incidents'): what one output line carries
    # Paths within one record (scoring's syntax: 'a[].b'), declared by the schema module:
    grounded_fields: tuple[str, ...] = ()  # GROUNDED_FIELDS: values copied from the text, located in it
    key_fields: tuple[str, ...] = ()  # KEY_FIELDS: the grounded ones `require_grounding` insists on
    normalized_fields: tuple[tuple[str, str], ...] = ()  # NORMALIZED_FIELDS: (path, normaliser) pairs
    resolved_fields: tuple[tuple[str, str], ...] = ()  # RESOLVED_FIELDS: (path, resolver) pairs (resolve.py)
    verified_fields: tuple[str, ...] = ()  # VERIFIED_FIELDS: grounded names removed when not in the text (resolve.py)
    # ANSWER_MODEL: what the model fills when the prompt numbers the article's sentences (prompt `article =
    # "numbered"`): the same records with SENTENCE_FIELDS (quotes) answered by sentence number.
    answer_model: type[BaseModel] | None = None
    sentence_fields: tuple[str, ...] = ()
    # SAME_RECORD(a, b): whether two records of one answer are one incident told twice (stored records as dicts).
    # A small model repeats a record instead of stopping; the later copy is dropped (and kept aside on the line).
    same_record: Callable[[dict[str, Any], dict[str, Any]], bool] | None = None
    # ROLE_LEXICON, TYPE_MODEL and RELEVANCE_MODEL: trained stages stored beside the schema file (resolve.py
    # applies them), with ROLE_SLOTS (the slots the lexicon moves fillers between and the type model reads) and
    # TYPE_FIELD (the record's type).
    role_lexicon: RoleLexicon | None = None
    role_slots: tuple[str, ...] = ()
    type_model: TypeModel | None = None
    type_field: str = ""
    relevance: RelevanceModel | None = None

    def deduplicate(self, records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The records without the repeats SAME_RECORD finds (the first telling kept), and the repeats as
        {"index", "same_as", "record"} (indexes in the answer as given)."""
        if self.same_record is None:
            return records, []
        kept: list[tuple[int, dict[str, Any]]] = []
        repeats: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            first = next((number for number, earlier in kept if self.same_record(earlier, record)), None)
            if first is None:
                kept.append((index, record))
            else:
                repeats.append({"index": index, "same_as": first, "record": record})
        return [record for _, record in kept], repeats

    @property
    def json_schema(self) -> dict[str, Any]:
        return self.response_model.model_json_schema()

    @cached_property
    def records_model(self) -> type[BaseModel]:
        """The response model with its list of records only (a plan or other helper fields left out): what a plain
        reference call fills."""
        field = self.response_model.model_fields[self.list_field]
        return create_model(
            f"{self.response_model.__name__}Records",
            __config__=ConfigDict(extra="forbid"),
            **{self.list_field: (field.annotation, field)},  # type: ignore[call-overload]
        )

    @cached_property
    def _one_record_models(self) -> dict[bool, type[BaseModel]]:
        return {}

    def one_record_model(self, numbered_sentences: bool) -> type[BaseModel]:
        """The list of records alone, holding exactly one: what a fill call (fill.py) answers."""
        models = self._one_record_models
        if numbered_sentences not in models:
            model = self.model_for(numbered_sentences)
            field = model.model_fields[self.list_field]
            one = Field(min_length=1, max_length=1, description=field.description)
            models[numbered_sentences] = create_model(
                f"{model.__name__}OneRecord",
                __config__=ConfigDict(extra="forbid"),
                **{self.list_field: (field.annotation, one)},  # type: ignore[call-overload]
            )
        return models[numbered_sentences]

    def model_for(self, numbered_sentences: bool, records_only: bool = False) -> type[BaseModel]:
        """The model the LLM fills: the records themselves (`records_only`: without a plan), or with numbered
        sentences the answer model."""
        if records_only:
            if numbered_sentences:
                raise SchemaNotFound("a plain reference prompt cannot number the article's sentences")
            return self.records_model
        if not numbered_sentences:
            return self.response_model
        if self.answer_model is None or not self.sentence_fields:
            raise SchemaNotFound(
                f"the prompt numbers the article's sentences, but schema {self.name} defines no ANSWER_MODEL and "
                "SENTENCE_FIELDS to cite them with: use a prompt with article = 'plain', or add them to the schema"
            )
        return self.answer_model


def available_schemas() -> list[str]:
    return bundled_names("schemas", ".py")


def _resolve(name_or_path: str) -> Path:
    path = find_resource("schemas", name_or_path, ".py")
    if path is None:
        raise SchemaNotFound(
            f"no schema '{name_or_path}': give a path to a .py file defining RESPONSE_MODEL, "
            f"or one of: {', '.join(available_schemas())}"
        )
    return path


@cache
def load_schema(name_or_path: str) -> SchemaSpec:
    """Import the schema file: its RESPONSE_MODEL, RECORDS_FIELD (default: the model's first field), and
    the optional GROUNDED_FIELDS, KEY_FIELDS and NORMALIZED_FIELDS that `annotate` reads."""
    path = _resolve(name_or_path)
    module_name = f"llm_extract_schema_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SchemaNotFound(f"cannot import schema file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pydantic resolves postponed annotations through sys.modules
    spec.loader.exec_module(module)
    model = getattr(module, "RESPONSE_MODEL", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise SchemaNotFound(f"{path} must define RESPONSE_MODEL, a pydantic BaseModel subclass")
    list_field = getattr(module, "RECORDS_FIELD", None) or next(iter(model.model_fields))
    trained = {name: path.parent / getattr(module, name) for name in TRAINED_FILES if getattr(module, name, None)}
    missing = [str(file) for file in trained.values() if not file.is_file()]
    if missing:
        raise SchemaNotFound(f"{path} names trained files that are not beside it: {', '.join(missing)}")
    if list_field not in model.model_fields:
        raise SchemaNotFound(f"{path}: RECORDS_FIELD '{list_field}' is not a field of {model.__name__}")
    return SchemaSpec(
        name=getattr(module, "SCHEMA_NAME", path.stem),
        path=path,
        response_model=model,
        # The trained files decide stored records as much as the schema file does: they are part of its identity.
        sha256=hashlib.sha256(path.read_bytes() + b"".join(file.read_bytes() for file in trained.values())).hexdigest(),
        list_field=list_field,
        grounded_fields=tuple(getattr(module, "GROUNDED_FIELDS", ())),
        key_fields=tuple(getattr(module, "KEY_FIELDS", ())),
        normalized_fields=tuple(dict(getattr(module, "NORMALIZED_FIELDS", {})).items()),
        resolved_fields=tuple(
            (path, kind)
            for path, kinds in dict(getattr(module, "RESOLVED_FIELDS", {})).items()
            for kind in ((kinds,) if isinstance(kinds, str) else kinds)
        ),
        verified_fields=tuple(getattr(module, "VERIFIED_FIELDS", ())),
        answer_model=getattr(module, "ANSWER_MODEL", None),
        sentence_fields=tuple(getattr(module, "SENTENCE_FIELDS", ())),
        same_record=getattr(module, "SAME_RECORD", None),
        role_lexicon=load_role_lexicon(trained["ROLE_LEXICON"]) if "ROLE_LEXICON" in trained else None,
        role_slots=tuple(getattr(module, "ROLE_SLOTS", ())),
        type_model=load_type_model(trained["TYPE_MODEL"]) if "TYPE_MODEL" in trained else None,
        type_field=getattr(module, "TYPE_FIELD", ""),
        relevance=load_relevance_model(trained["RELEVANCE_MODEL"]) if "RELEVANCE_MODEL" in trained else None,
    )


def export_json_schema(spec: SchemaSpec) -> str:
    """The JSON Schema the model is constrained by, as stable, diffable text."""
    return json.dumps(spec.json_schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
