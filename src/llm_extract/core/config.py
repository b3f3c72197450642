"""All settings in one place. Precedence: flags > environment (LLM_EXTRACT_*) > config file > defaults."""

from __future__ import annotations

import os
import stat
import tomllib
import warnings
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from llm_extract.core.errors import ConfigError
from llm_extract.core.redact import MASK, scrub_text, scrub_url

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
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0: the likeliest answer)")
    max_tokens: int = Field(2048, ge=16, description="Most tokens the model may write in one answer")
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
    fill: str | None = Field(
        None,
        description='A fill prompt (prompts/, kind = "fill"): each plan line the answer left without a record is '
        "asked for in a call of its own (extraction/fill.py)",
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
        "default: on 2 cores it gave 1.08x and changed answers (docs/benchmarks.md)",
    )
    cache_dir: Path = Field(Path(platformdirs.user_cache_dir("llm-extract")))

    @field_validator("fill")
    @classmethod
    def _no_fill(cls, value: str | None) -> str | None:
        return None if value is None or value.strip().casefold() in ("", "none") else value

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
        data["api_key"] = MASK if self.api_key else None
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


Source = Literal["flag", "environment", "config file", "default"]
_SECRET_FIELDS = frozenset({"api_key"})


@dataclass(frozen=True)
class Origin:
    """Where one setting's value came from, so that `config show` and error messages can point at it."""

    source: Source
    name: str | None = None  # the flag, the environment variable or the config file; None for a default

    def __str__(self) -> str:
        return self.source if self.name is None else f"{self.source} {self.name}"


@dataclass(frozen=True)
class TracedSettings:
    """Settings with the origin of every field (and of every unknown key that was given)."""

    settings: Settings
    origins: dict[str, Origin]
    config_file: Path | None  # the file read (--config, $LLM_EXTRACT_CONFIG, or found), None when there was none


def _env_names(name: str) -> list[str]:
    """The environment variables that can set a field, in the order pydantic-settings tries them."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [alias if isinstance(alias, str) else f"{Settings.model_config.get('env_prefix', '')}{name}"]


def _env_variable(name: str) -> str:
    """The variable that set a field: names are matched case-insensitively, as pydantic-settings does."""
    present = {variable.lower(): variable for variable in os.environ}
    return next((present[n.lower()] for n in _env_names(name) if n.lower() in present), _env_names(name)[0])


def _origins(given: Mapping[str, Any], labels: Mapping[str, str], config_file: Path | None) -> dict[str, Origin]:
    """Each field's origin by the precedence Settings applies: flags > environment > config file > default.
    The environment and the file are read by pydantic-settings' own sources, so a name counts as set exactly
    when it sets the field."""
    from_env = EnvSettingsSource(Settings)()
    from_file = TomlConfigSettingsSource(Settings, toml_file=config_file)() if config_file is not None else {}
    origins: dict[str, Origin] = {}
    for name in [*Settings.model_fields, *(key for key in (*given, *from_file) if key not in Settings.model_fields)]:
        if name in given:
            origins[name] = Origin("flag", labels.get(name, name))
        elif name in from_env:
            origins[name] = Origin("environment", _env_variable(name))
        elif name in from_file:
            origins[name] = Origin("config file", str(config_file))
        else:
            origins[name] = Origin("default")
    return origins


def _problems(exc: ValidationError, origins: Mapping[str, Origin]) -> list[str]:
    """One line per invalid value, naming where it was given (`--temperature: ...`), not the field behind it."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        origin = origins.get(name, Origin("default"))
        where = {"flag": origin.name, "environment": origin.name, "config file": f"{origin.name}: {name}"}.get(
            origin.source, name
        )
        reason = "not a setting" if error["type"] == "extra_forbidden" else error["msg"][:1].lower() + error["msg"][1:]
        given = "" if name in _SECRET_FIELDS or error["type"] == "extra_forbidden" else f" (got {error['input']!r})"
        lines.append(f"{where}: {reason}{scrub_text(given)}")  # a URL given may hold credentials
    return lines


def trace_settings(
    config_file: Path | None = None, flag_names: Mapping[str, str] | None = None, **flags: Any
) -> TracedSettings:
    """Settings from flags (None means 'not given'), environment, config file and defaults, with where each value
    came from. `flag_names` maps a field to the flag that set it (`request_timeout` -> `--timeout`), for messages;
    a field without one is named as given. An invalid value is a ConfigError naming the flag, variable or file."""
    found = find_config_file(config_file)
    if found is not None:
        warn_if_key_exposed(found)
    given = {key: value for key, value in flags.items() if value is not None}
    token = _config_file.set(found)
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        problems = _problems(exc, _origins(given, flag_names or {}, found))
        raise ConfigError("invalid settings: " + "\n".join(problems)) from exc
    except ValueError as exc:  # a malformed config file: tomllib's error, unwrapped
        raise ConfigError(f"config file {found}: {exc}") from exc
    finally:
        _config_file.reset(token)
    return TracedSettings(settings, _origins(given, flag_names or {}, found), found)


def load_settings(
    config_file: Path | None = None, flag_names: Mapping[str, str] | None = None, **flags: Any
) -> Settings:
    """Build settings from flags (None means 'not given'), environment, config file and defaults."""
    return trace_settings(config_file, flag_names, **flags).settings
