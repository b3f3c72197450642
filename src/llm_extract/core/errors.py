"""Errors a user can act on: each message says what went wrong and what to do."""

from __future__ import annotations


class LLMExtractError(Exception):
    """Base class for errors the CLI reports as a message rather than a traceback."""


class ConfigError(LLMExtractError):
    """The settings are inconsistent or incomplete."""


class SchemaNotFound(LLMExtractError):
    """No schema of that name or path."""


class PromptNotFound(LLMExtractError):
    """No prompt template of that name or path."""


class ModelUnavailable(LLMExtractError):
    """The embedded model's weights are missing or corrupt."""


class ServerStartError(LLMExtractError):
    """The embedded llama.cpp server did not come up."""
