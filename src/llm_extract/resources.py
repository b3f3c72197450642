"""Where the bundled schemas/ and prompts/ folders live, in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_dir(kind: str) -> Path:
    """Return the folder holding the bundled `kind` ("schemas", "prompts" or "evals").

    A wheel carries them inside the package (`_bundled/`); a source checkout (editable install)
    keeps them at the project root, which is where developers edit them.
    """
    for candidate in (_PACKAGE_DIR / "_bundled" / kind, _PACKAGE_DIR.parents[1] / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bundled {kind}/ folder not found beside {_PACKAGE_DIR}; reinstall llm-extract")


def find_resource(kind: str, name_or_path: str, suffix: str) -> Path | None:
    """A user's file (a path ending in `suffix`) or a bundled one by name; None if neither exists."""
    path = Path(name_or_path)
    if path.suffix == suffix and path.is_file():
        return path.resolve()
    candidate = bundled_dir(kind) / f"{name_or_path}{suffix}"
    return candidate if candidate.is_file() else None


def bundled_names(kind: str, suffix: str) -> list[str]:
    return sorted(path.stem for path in bundled_dir(kind).glob(f"*{suffix}") if not path.name.startswith("_"))
