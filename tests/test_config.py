"""Settings precedence: flags > environment > config file > defaults; secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_extract.core.config import Origin, Settings, load_settings, trace_settings
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


def test_trace_settings_names_the_flag_variable_file_or_default_of_each_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "llm-extract.toml"
    config.write_text('model = "from-file"\nmax_reasks = 4\nconcurrency = 3\n')
    monkeypatch.setenv("LLM_EXTRACT_CONCURRENCY", "5")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-value")
    traced = trace_settings(config, {"request_timeout": "--timeout"}, request_timeout=9, model="from-flag")
    assert str(traced.origins["request_timeout"]) == "flag --timeout"
    assert str(traced.origins["model"]) == "flag model"  # a keyword without a flag name is named as given
    assert traced.origins["concurrency"] == Origin("environment", "LLM_EXTRACT_CONCURRENCY")
    assert traced.origins["api_key"] == Origin("environment", "OPENAI_API_KEY")
    assert traced.origins["max_reasks"] == Origin("config file", str(config))
    assert traced.origins["max_retries"] == Origin("default")
    assert traced.config_file == config
    assert set(traced.origins) == set(Settings.model_fields)


def test_an_invalid_value_is_named_where_it_was_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"^invalid settings: --timeout: input should be greater than 0 \(got -1\)$"):
        load_settings(None, {"request_timeout": "--timeout"}, request_timeout=-1)
    config = tmp_path / "c.toml"
    config.write_text("temperature = 3\nbogus = 1\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert str(raised.value).splitlines() == [
        f"invalid settings: {config}: temperature: input should be less than or equal to 2 (got 3)",
        f"{config}: bogus: not a setting",
    ]
    monkeypatch.setenv("LLM_EXTRACT_MODE", "https://user:sk-test-secret-value@host/v1")  # a URL in the wrong variable
    monkeypatch.setenv("LLM_EXTRACT_MAX_RETRIES", "lots")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "LLM_EXTRACT_MAX_RETRIES: input should be a valid integer" in str(raised.value)
    assert "LLM_EXTRACT_MODE: input should be 'json_schema'" in str(raised.value)
    assert "(got 'https://***@host/v1')" in str(raised.value) and "sk-test-secret-value" not in str(raised.value)


def test_a_malformed_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('model = "unterminated\n')
    with pytest.raises(ConfigError, match=f"^config file {config}: "):
        load_settings(config)
