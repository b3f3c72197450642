"""All settings in one place. Precedence: flags > environment (LLM_EXTRACT_*) > config file > defaults."""

from __future__ import annotations

import os
import stat
import tomllib
import warnings
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from llm_extract.core.errors import ConfigError
from llm_extract.core.redact import scrub_url

CONFIG_ENV = "LLM_EXTRACT_CONFIG"
DEFAULT_CONFIG_NAMES = (Path("llm-extract.toml"), Path(platformdirs.user_config_dir("llm-extract")) / "config.toml")

Mode = Literal["json_schema", "tools", "json", "md_json"]

_config_file: ContextVar[Path | None] = ContextVar("llm_extract_config_file", default=None)


class Settings(BaseSettings):
    """Everything a run depends on. Printed (secrets redacted) in every run manifest."""

    model_config = SettingsConfigDict(env_prefix="LLM_EXTRACT_", extra="forbid", populate_by_name=True)

    # Endpoint. No base_url means the embedded local model.
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. https://api.openai.com/v1")
    model: str | None = Field(None, description="Model name at the endpoint ('local' for the embedded model)")
    api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("api_key", "LLM_EXTRACT_API_KEY", "OPENAI_API_KEY")
    )
    mode: Mode = Field("json_schema", description="How instructor asks for structured output")

    # What to extract.
    schema_name: str = Field("incident_v1", description="Schema name in schemas/, or a path to a .py file")
    prompt_name: str = Field("incident_v4", description="Prompt name in prompts/, or a path to a .toml file")

    # Sampling.
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(2048, ge=16)
    seed: int | None = Field(1234, description="Sent to servers that honour it, for repeatable runs")

    # Reliability and throughput.
    concurrency: int | None = Field(
        None,
        ge=1,
        le=512,
        description="Documents in flight at once (default: the embedded server's slots, from the machine; 1 for "
        "other servers)",
    )
    max_reasks: int = Field(2, ge=0, le=10, description="Re-asks after a response fails validation")
    salvage: bool = Field(
        True,
        description="Keep the valid, grounded part of an answer still invalid after its re-asks (the removed values "
        "are listed on its line) instead of storing the document as invalid",
    )
    require_grounding: bool = Field(
        False, description="Re-ask, then fail, a document whose key values (evidence, site, actors) are not in its text"
    )
    max_retries: int = Field(6, ge=0, le=50, description="Retries after a transport failure (429, 5xx, timeout)")
    request_timeout: float = Field(
        600.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds before one HTTP request is abandoned (a wall-clock deadline, not per read)",
    )
    backoff_initial: float = Field(
        1.0, ge=0, allow_inf_nan=False, description="First backoff in seconds, doubled each retry"
    )
    backoff_max: float = Field(
        60.0,
        ge=0,
        allow_inf_nan=False,
        description="Longest single backoff in seconds; a server's longer Retry-After is cut to it",
    )
    preflight: bool = Field(
        True, description="Check a remote base_url (GET /models) before the run, to fail in seconds if it is wrong"
    )

    context_tokens: int | None = Field(
        None,
        ge=512,
        description="The model's context window in tokens: a prompt that cannot fit beside max_tokens is not sent "
        "(status error, 'too long'). Default: local_ctx for the embedded model, no check for other servers",
    )

    # Embedded model.
    model_path: Path | None = Field(None, description="Use this GGUF instead of the embedded default")
    local_ctx: int = Field(8192, ge=512, description="Context tokens per parallel slot of the local server")
    local_threads: int | None = Field(None, ge=1, description="CPU threads for the local server (default: all)")
    local_speculation: bool = Field(
        False,
        description="n-gram speculative decoding in the local server (drafts from text already seen); off by "
        "default: on 2 cores it gave 1.08x and changed answers (README, 'Measured figures')",
    )
    cache_dir: Path = Field(Path(platformdirs.user_cache_dir("llm-extract")))

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def uses_embedded_model(self) -> bool:
        return self.base_url is None

    def public_dict(self) -> dict[str, Any]:
        """Settings as JSON-safe values with the API key and URL credentials redacted, for manifests and logs."""
        data = self.model_dump(mode="json")
        data["api_key"] = "***" if self.api_key else None
        data["base_url"] = scrub_url(self.base_url)
        return data


class ConfigWarning(UserWarning):
    """A setting works but is risky."""


_KEY_NAMES = ("api_key", "LLM_EXTRACT_API_KEY", "OPENAI_API_KEY")


def warn_if_key_exposed(path: Path) -> None:
    """A config file holding an API key should be readable by its owner alone (chmod 600)."""
    if os.name == "nt":
        return
    try:
        mode = path.stat().st_mode
        if not mode & (stat.S_IRWXG | stat.S_IRWXO):
            return
        holds_key = any(name in tomllib.loads(path.read_text(encoding="utf-8")) for name in _KEY_NAMES)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return  # unreadable or malformed: loading it reports that
    if holds_key:
        warnings.warn(
            f"{path} holds api_key and is readable by group or others (mode {stat.S_IMODE(mode):04o}): "
            f"run `chmod 600 {path}`, or give the key in LLM_EXTRACT_API_KEY instead",
            ConfigWarning,
            stacklevel=3,
        )


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The config file in force: --config, then $LLM_EXTRACT_CONFIG, then ./llm-extract.toml, then the user's."""
    if explicit is None and os.environ.get(CONFIG_ENV):
        explicit = Path(os.environ[CONFIG_ENV])
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file {explicit} does not exist")
        return explicit
    return next((path for path in DEFAULT_CONFIG_NAMES if path.is_file()), None)


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Build settings from flags (None means 'not given'), environment, config file and defaults."""
    found = find_config_file(config_file)
    if found is not None:
        warn_if_key_exposed(found)
    token = _config_file.set(found)
    try:
        return Settings(**{key: value for key, value in flags.items() if value is not None})
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
    finally:
        _config_file.reset(token)
