"""llm-extract on a platform without fcntl (Windows): the package imports, and a run file's lock still keeps out a
second writer. Windows itself is not at hand, so fcntl is made unimportable in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

WITHOUT_FCNTL = textwrap.dedent(
    """
    import importlib, pkgutil, sys, warnings
    from pathlib import Path

    sys.modules["fcntl"] = None  # `import fcntl` now raises ImportError, as on Windows
    warnings.simplefilter("ignore")  # filelock: "only soft file lock is available" (Windows has msvcrt's)

    import llm_extract
    from llm_extract.core.errors import LLMExtractError
    from llm_extract.runs.store import RunStore

    failed = []
    for module in pkgutil.walk_packages(llm_extract.__path__, "llm_extract."):
        try:
            importlib.import_module(module.name)
        except Exception as exc:
            failed.append(f"{module.name}: {exc!r}")
    print("modules that failed:", failed)

    output = Path(sys.argv[1])
    with RunStore(output).locked():
        try:
            with RunStore(output).locked():
                print("second writer admitted")
        except LLMExtractError as exc:
            print("second writer refused:", exc)
    with RunStore(output).locked():
        print("lock taken again after release")
    """
)


def test_without_fcntl_the_package_imports_and_the_lock_refuses_a_second_writer(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_FCNTL, str(output)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "modules that failed: []"
    assert lines[1] == f"second writer refused: another llm-extract run is writing {output.resolve()}; wait for it " \
        "or choose another -o"  # fmt: skip
    assert lines[2] == "lock taken again after release"
