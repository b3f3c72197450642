"""Versioned prompt templates (prompts/*.toml) rendered into chat messages."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from llm_extract.core.errors import PromptNotFound
from llm_extract.core.resources import bundled_names, find_resource
from llm_extract.extraction.examples import ExamplePool

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)

Message = dict[str, str]


@cache
def _template(source: str) -> jinja2.Template:
    """Compile each template source once: compiling per render cost more CPU than a request at high concurrency."""
    return _ENV.from_string(source)


@dataclass(frozen=True)
class PromptTemplate:
    """A prompt file: system instructions first, the article last, and the re-ask message."""

    name: str
    path: Path
    sha256: str
    schema: str | None
    system: str
    user: str
    reask: str
    # "numbered": the article is shown with [n] before each sentence and the schema's sentence fields are
    # answered by number (llm_extract.inputs.sentences); "plain": as written.
    article: str = "plain"
    # A plain reference (`reference = true`): what a user gets by calling instructor themselves, the number the
    # pipeline must beat. The model fills only the schema's records (no plan), nothing checks its values against
    # the article, and an invalid answer is not re-asked (api.settings_for_prompt).
    reference: bool = False
    # `[examples] pool = "<file beside the prompt>", k = N`: the N labelled examples most like the article, given to
    # the user template as `examples` (llm_extract.extraction.examples).
    examples: ExamplePool | None = None

    @property
    def numbers_sentences(self) -> bool:
        return self.article == "numbered"

    def render(self, text: str, published: str | None = None) -> list[Message]:
        """Messages for one document. The system part never depends on the document (prompt-cache friendly)."""
        return [
            {"role": "system", "content": _template(self.system).render().strip()},
            {"role": "user", "content": _template(self.user).render(**self.variables(text, published)).strip()},
        ]

    def variables(self, text: str, published: str | None) -> dict[str, object]:
        shown = self.examples.nearest(text) if self.examples is not None else []
        return {"text": text, "published": published, "examples": shown}

    def render_reask(self, errors: str) -> str:
        return _template(self.reask).render(errors=errors).strip()


def available_prompts() -> list[str]:
    return bundled_names("prompts", ".toml")


def _resolve(name_or_path: str) -> Path:
    path = find_resource("prompts", name_or_path, ".toml")
    if path is None:
        raise PromptNotFound(
            f"no prompt '{name_or_path}': give a path to a .toml prompt file, "
            f"or one of: {', '.join(available_prompts())}"
        )
    return path


FILL_KIND = "fill"  # `kind = "fill"`: a fill prompt (fill.py), given with --fill beside an extraction prompt


def read_prompt_file(path: Path) -> tuple[bytes, dict[str, Any]]:
    """A prompt file's bytes (its identity) and its TOML."""
    raw = path.read_bytes()
    try:
        return raw, tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PromptNotFound(f"prompt file {path} is not valid TOML: {exc}") from exc


def check_templates(path: Path, data: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Each of the file's templates compiles, else the error names the file and section."""
    for key in keys:
        try:
            _ENV.parse(data[key])
        except jinja2.TemplateSyntaxError as exc:
            raise PromptNotFound(f"prompt file {path}, section {key}: {exc}") from exc


def render_template(source: str, **variables: object) -> str:
    return _template(source).render(**variables).strip()


@cache
def load_prompt(name_or_path: str) -> PromptTemplate:
    path = _resolve(name_or_path)
    raw, data = read_prompt_file(path)
    if data.get("kind") == FILL_KIND:
        raise PromptNotFound(f'{path} is a fill prompt (kind = "fill"): give it as --fill, with an extraction prompt')
    missing = [key for key in ("system", "user", "reask") if key not in data]
    if missing:
        raise PromptNotFound(f"prompt file {path} lacks {', '.join(missing)}")
    if not isinstance(data.get("reference", False), bool):
        raise PromptNotFound(f"prompt file {path}: reference = {data['reference']!r} is not true or false")
    if data.get("article", "plain") not in ("plain", "numbered"):
        raise PromptNotFound(f"prompt file {path}: article = {data['article']!r} is not 'plain' or 'numbered'")
    examples = _examples(path, data.get("examples"))
    if examples is not None:
        raw += examples.path.read_bytes()  # the pool decides what the model is shown: part of the prompt's identity
    check_templates(path, data, ("system", "user", "reask"))
    return PromptTemplate(
        name=data.get("name", path.stem),
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        schema=data.get("schema"),
        system=data["system"],
        user=data["user"],
        reask=data["reask"],
        article=data.get("article", "plain"),
        reference=data.get("reference", False),
        examples=examples,
    )


def _examples(path: Path, table: object) -> ExamplePool | None:
    if table is None:
        return None
    if not (isinstance(table, dict) and isinstance(table.get("pool"), str) and isinstance(table.get("k", 1), int)):
        raise PromptNotFound(f'prompt file {path}: [examples] needs pool = "<file beside the prompt>" and k = <int>')
    pool = path.parent / table["pool"]
    if not pool.is_file():
        raise PromptNotFound(f"prompt file {path}: its example pool {pool} does not exist")
    return ExamplePool(pool, table.get("k", 1))
