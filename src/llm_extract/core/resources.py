"""Where the schemas/ and prompts/ folders are read from.

Run from a source checkout (an editable install, or `src/` on the path), the checkout's top-level schemas/ and
prompts/ are read: that is where developers edit them. An installed wheel carries a copy of both as package data
(`llm_extract/_bundled/`, see pyproject.toml), read through importlib.resources. Eval suites are not package
data: suite.py finds them.
"""

from __future__ import annotations

import atexit
import tomllib
from contextlib import ExitStack
from functools import cache
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path

from llm_extract.core.errors import LLMExtractError

PACKAGE = "llm_extract"
PROJECT_NAME = "llm-extract"  # [project] name in the checkout's pyproject.toml
KINDS = ("schemas", "prompts")

# Files handed out as real paths (schema_loader imports them): for a package imported from a zip archive,
# importlib.resources extracts a copy that must outlive the call; on a file system as_file() copies nothing.
_extracted = ExitStack()
atexit.register(_extracted.close)


class ResourcesMissing(LLMExtractError):
    """The installed package lacks its bundled schemas/ or prompts/ (a broken or partial install)."""


def checkout_of(package_dir: Path) -> Path | None:
    """The source checkout holding `package_dir`, or None.

    A checkout has the src layout: <root>/src/llm_extract, and <root>/pyproject.toml names the project
    llm-extract. An installed package (site-packages/llm_extract) never matches, even inside a checkout's
    virtual environment, and neither does another project's tree.
    """
    package_dir = package_dir.resolve()
    if package_dir.name != PACKAGE or package_dir.parent.name != "src":
        return None
    root = package_dir.parent.parent
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return root if isinstance(project, dict) and project.get("name") == PROJECT_NAME else None


@cache
def checkout_root() -> Path | None:
    """The source checkout this package is imported from, or None when it runs from an installed wheel."""
    return checkout_of(Path(__file__).resolve().parents[1])  # this file is llm_extract/core/resources.py


def resource_dir(kind: str) -> Traversable:
    """The folder `kind` ("schemas" or "prompts") is read from: the checkout's, else the wheel's package data."""
    if kind not in KINDS:
        raise ValueError(f"unknown resource kind {kind!r} (one of: {', '.join(KINDS)})")
    root = checkout_root()
    folder: Traversable = root / kind if root is not None else files(PACKAGE) / "_bundled" / kind
    if not folder.is_dir():
        raise ResourcesMissing(
            f"llm-extract's {kind}/ folder is missing (looked in {folder}): reinstall llm-extract, or give the "
            f"path to a file instead of a name"
        )
    return folder


def find_resource(kind: str, name_or_path: str, suffix: str) -> Path | None:
    """A user's file (a path ending in `suffix`) or a bundled one by name, as a real file path; None if neither
    exists."""
    path = Path(name_or_path)
    if path.suffix == suffix and path.is_file():
        return path.resolve()
    if not name_or_path or path.name != name_or_path or name_or_path.startswith("."):
        return None  # a path, not a name: only looked for as given
    candidate = resource_dir(kind) / f"{name_or_path}{suffix}"
    if not candidate.is_file():
        return None
    return Path(_extracted.enter_context(as_file(candidate)))


def bundled_names(kind: str, suffix: str) -> list[str]:
    """Names of the bundled files of `kind` ending in `suffix` (those starting with '_' are helpers, not listed)."""
    return sorted(
        entry.name.removesuffix(suffix)
        for entry in resource_dir(kind).iterdir()
        if entry.name.endswith(suffix) and not entry.name.startswith("_") and entry.is_file()
    )
