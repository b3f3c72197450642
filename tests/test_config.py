"""Settings precedence: flags > environment > config file > defaults; secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_extract.core.config import load_settings
from llm_extract.core.errors import ConfigError


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "llm-extract.toml"
    config.write_text('model = "from-file"\nconcurrency = 3\nmax_reasks = 4\nbase_url = "http://file/v1/"\n')
    monkeypatch.setenv("LLM_EXTRACT_CONCURRENCY", "5")
    monkeypatch.setenv("LLM_EXTRACT_MODEL", "from-env")
    settings = load_settings(config, model="from-flag")
    assert settings.model == "from-flag"  # flag beats env and file
    assert settings.concurrency == 5  # env beats file
    assert settings.max_reasks == 4  # file beats default
    assert settings.max_retries == 6  # default
    assert settings.base_url == "http://file/v1"


def test_config_file_from_environment_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text("temperature = 0.5\n")
    monkeypatch.setenv("LLM_EXTRACT_CONFIG", str(config))
    assert load_settings().temperature == 0.5
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_bad_values_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="concurrency"):
        load_settings(concurrency=0)
    with pytest.raises(ConfigError, match="mode"):
        load_settings(mode="xml")


def test_api_key_from_openai_env_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value")
    settings = load_settings(base_url="https://api.openai.com/v1", model="gpt-4o-mini")
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-test-secret-value"
    assert settings.public_dict()["api_key"] == "***"
    assert "sk-test-secret-value" not in repr(settings)
