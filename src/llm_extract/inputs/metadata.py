"""What an article file says about itself: YAML front matter at the top of a .txt/.md file, and a sidecar
`<name>.meta.json` beside any single-article file (.txt, .md, .html, .htm, .pdf).

A .txt article has no place for its publication date, and without one the model cannot resolve "on Monday"
or "last week"; these two give it one without editing the article body. The keys are the JSONL ones
(published, url, source, title; front matter also takes `date`, the Jekyll/Hugo name). Values are checked
by documents.py, the same way for every format; here they are only found and parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml

METADATA_KEYS = ("published", "url", "source", "title")
SIDECAR_SUFFIX = ".meta.json"  # `article.txt` -> `article.meta.json`


@dataclass(frozen=True)
class Parsed:
    """One article as a format reader found it: its text, the metadata it carries (unchecked), what reading it
    took (notes), and for a paged format the offset in `text` where each page starts."""

    text: str
    metadata: dict[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    pages: tuple[int, ...] = ()


_YAML = frontmatter.YAMLHandler()


def front_matter(text: str, notes: tuple[str, ...] = ()) -> Parsed:
    """The article without its front matter (a `---` line first, YAML, a closing `---` line), and the front
    matter's metadata. Malformed front matter is refused rather than taken as article text: it would otherwise
    be shown to the model as the article's first lines, or (python-frontmatter's own parse) dropped."""
    if not _YAML.detect(text):
        return Parsed(text, notes=notes)
    block, body = _YAML.split(text)
    try:
        loaded = _YAML.load(block)
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML ({_yaml_problem(exc)})") from None
    except ValueError as exc:  # YAML reads 2023-13-01 as a date and fails on it
        raise ValueError(f"front matter has a value YAML cannot read ({exc}: a date that does not exist?)") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ValueError("front matter (between the first two --- lines) is not a YAML mapping of keys to values")
    metadata = {str(key): value for key, value in loaded.items()}
    if "date" in metadata and "published" not in metadata:
        metadata["published"] = metadata.pop("date")
    return Parsed(body.lstrip("\n"), _known(metadata), notes=(*notes, *_unknown_note(metadata, "front matter")))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        # The block starts right after the opening "---" (its line 0 is the rest of that line): file line n + 1.
        return f"{exc.problem} at line {exc.problem_mark.line + 1}"
    return str(exc).splitlines()[0]


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SIDECAR_SUFFIX) and len(path.name) > len(SIDECAR_SUFFIX)


def sidecar_metadata(data: bytes, name: str) -> tuple[dict[str, object], tuple[str, ...]]:
    """The metadata in a sidecar's bytes, and a note naming any keys it has that are not metadata."""
    try:
        loaded = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise ValueError(f"{name} is not a JSON object")
    return _known(loaded), _unknown_note(loaded, name)


def _known(metadata: dict[str, object]) -> dict[str, object]:
    return {key: metadata[key] for key in METADATA_KEYS if key in metadata}


def _unknown_note(metadata: dict[str, object], where: str) -> tuple[str, ...]:
    unknown = sorted(set(metadata) - set(METADATA_KEYS))
    if not unknown:
        return ()
    return (f"{where} keys not used: {', '.join(unknown)} (read: {', '.join(METADATA_KEYS)})",)
