"""Where schemas and prompts are read from: the source checkout the package runs from (found by its src layout
and pyproject.toml, never by a bare parents[1]), else the wheel's package data (tests/test_packaging.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_extract.core import resources
from llm_extract.core.resources import ResourcesMissing, bundled_names, checkout_of, find_resource, resource_dir
from llm_extract.extraction.prompts import available_prompts, load_prompt
from llm_extract.extraction.schema_loader import available_schemas, load_schema

ROOT = Path(__file__).resolve().parents[1]


def fake_tree(root: Path, package_parent: str, name: str | None = "llm-extract") -> Path:
    """<root>/<package_parent>/llm_extract, with a pyproject.toml naming `name` at <root> (none if None)."""
    package = root / package_parent / "llm_extract"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if name is not None:
        (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "0"\n')
    return package


def test_a_src_layout_with_our_pyproject_is_a_checkout(tmp_path: Path) -> None:
    assert checkout_of(fake_tree(tmp_path, "src")) == tmp_path.resolve()


@pytest.mark.parametrize(
    ("package_parent", "name"),
    [
        ("src", "someone-else"),  # another project's src layout
        ("src", None),  # no pyproject.toml
        (".venv/lib/python3.11/site-packages", "llm-extract"),  # a wheel installed into the checkout's venv
        ("lib", "llm-extract"),  # not the src layout
    ],
)
def test_anything_else_is_not_a_checkout(tmp_path: Path, package_parent: str, name: str | None) -> None:
    assert checkout_of(fake_tree(tmp_path, package_parent, name)) is None


def test_a_malformed_pyproject_is_not_a_checkout(tmp_path: Path) -> None:
    package = fake_tree(tmp_path, "src")
    (tmp_path / "pyproject.toml").write_text("[project\nname = ")
    assert checkout_of(package) is None


def test_from_the_checkout_its_top_level_folders_are_read() -> None:
    assert resources.checkout_root() == ROOT
    assert Path(str(resource_dir("schemas"))) == ROOT / "schemas"
    assert load_schema("incident_v1").path == ROOT / "schemas" / "incident_v1.py"
    assert load_prompt("incident_v4").path == ROOT / "prompts" / "incident_v4.toml"
    assert available_schemas() == sorted(path.stem for path in (ROOT / "schemas").glob("*.py"))
    assert available_prompts() == sorted(path.stem for path in (ROOT / "prompts").glob("*.toml"))


def test_a_user_file_is_read_by_path_and_a_path_is_never_a_name(tmp_path: Path) -> None:
    own = tmp_path / "mine.toml"
    own.write_text("x = 1\n")
    assert find_resource("prompts", str(own), ".toml") == own.resolve()
    assert find_resource("prompts", "../prompts/incident_v4", ".toml") is None
    assert find_resource("prompts", "no_such_prompt", ".toml") is None
    assert find_resource("prompts", "", ".toml") is None


def test_evals_are_not_a_resource() -> None:
    with pytest.raises(ValueError, match="unknown resource kind 'evals'"):
        resource_dir("evals")


def test_a_missing_bundle_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "checkout_root", lambda: tmp_path)
    with pytest.raises(ResourcesMissing, match=r"schemas/ folder is missing .*reinstall llm-extract"):
        bundled_names("schemas", ".py")
