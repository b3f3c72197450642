"""The wheel: schemas and prompts inside as package data (read with importlib.resources), evals/ not inside;
an installed package finds its schemas and prompts with the checkout off the path, and no suite by name.

The real wheel is built with hatchling (the build backend) when it is importable, offline, in a subprocess;
the same installed-package check also runs on a package laid out by hand, so it never depends on hatchling."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = sorted(path.name for path in (ROOT / "schemas").glob("*") if path.suffix in (".py", ".json"))
PROMPTS = sorted(path.name for path in (ROOT / "prompts").glob("*.toml"))

# Run in a fresh interpreter whose cwd is outside the checkout, with the checkout's src/ (which an editable
# install puts on the path) taken off it and the installed package first.
CHECK = r"""
import json, os, sys
from pathlib import Path

site, src = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
sys.path[:] = [str(site)] + [p for p in sys.path if p and Path(p).resolve() != src]

import llm_extract
from llm_extract.core import resources
from llm_extract.extraction.prompts import available_prompts, load_prompt
from llm_extract.extraction.schema_loader import available_schemas, load_schema
from llm_extract.scoring.suite import SuiteError, available_suites, load_suite

schema, prompt = load_schema("incident_v1"), load_prompt("incident_v4")
result = {
    "package": llm_extract.__file__,
    "checkout": str(resources.checkout_root()),
    "schema": str(schema.path),
    "schema_fields": list(schema.response_model.model_fields),
    "prompt": str(prompt.path),
    "prompt_messages": len(prompt.render("An article.")),
    "schemas": available_schemas(),
    "prompts": available_prompts(),
    "suites": available_suites(),
}
try:
    load_suite("seeds")
except SuiteError as exc:
    result["suite_error"] = str(exc)
os.environ["LLM_EXTRACT_EVALS_DIR"] = sys.argv[3]
result["suite_from_env"] = str(load_suite("seeds").directory)
print(json.dumps(result))
"""


def check_installed(site: Path, tmp_path: Path) -> None:
    """Import llm_extract from `site` (an unpacked wheel or a hand-made layout) and check what it reads."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLM_EXTRACT_", "PYTHON"))}
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(site), str(ROOT / "src"), str(ROOT / "evals")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    bundled = site.resolve() / "llm_extract" / "_bundled"
    assert Path(result["package"]).resolve().parent == site.resolve() / "llm_extract"
    assert result["checkout"] == "None"
    assert Path(result["schema"]) == bundled / "schemas" / "incident_v1.py"
    assert result["schema_fields"] and result["prompt_messages"] == 2
    assert Path(result["prompt"]) == bundled / "prompts" / "incident_v4.toml"
    assert result["schemas"] == sorted(name.removesuffix(".py") for name in SCHEMAS if name.endswith(".py"))
    assert result["prompts"] == sorted(name.removesuffix(".toml") for name in PROMPTS)
    assert result["suites"] == []
    assert "no eval suite 'seeds'" in result["suite_error"] and "LLM_EXTRACT_EVALS_DIR" in result["suite_error"]
    assert "an installed llm-extract carries no suites" in result["suite_error"]
    assert Path(result["suite_from_env"]) == ROOT / "evals" / "seeds"


def test_the_wheel_configuration_ships_schemas_and_prompts_and_not_evals() -> None:
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {
        "schemas": "llm_extract/_bundled/schemas",
        "prompts": "llm_extract/_bundled/prompts",
    }
    assert "evals" not in json.dumps(wheel)


def test_a_package_laid_out_as_a_wheel_installs_it_reads_its_own_data(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(ROOT / "src" / "llm_extract", site / "llm_extract", ignore=shutil.ignore_patterns("__pycache__"))
    for kind in ("schemas", "prompts"):
        shutil.copytree(ROOT / kind, site / "llm_extract" / "_bundled" / kind)
    check_installed(site, tmp_path)


def test_the_built_wheel_holds_schemas_and_prompts_but_no_evals(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="hatchling (the build backend) is not installed here")
    dist = tmp_path / "dist"
    dist.mkdir()
    build = "import sys, hatchling.build as backend; print(backend.build_wheel(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(dist)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    wheel = dist / done.stdout.split()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")
    assert not [name for name in names if "evals" in name.split("/")], "evals/ must not be in the wheel"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    bundled = "llm_extract/_bundled/"
    for kind, expected in (("schemas", SCHEMAS), ("prompts", PROMPTS)):
        shipped = sorted(name.removeprefix(f"{bundled}{kind}/") for name in names if name.startswith(bundled + kind))
        assert [name for name in shipped if Path(name).suffix in (".py", ".json", ".toml")] == expected
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert {name.split("/")[0] for name in names} == {"llm_extract", f"llm_extract-{version}.dist-info"}
    check_installed(tmp_path / "site", tmp_path)
