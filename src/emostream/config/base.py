"""What every configuration section shares: the error type and the strict base model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(ValueError):
    """The configuration is invalid; the message names every offending key."""


class Section(BaseModel):
    """A configuration section: unknown keys are errors, values are frozen and defaults validated.

    ``extra="forbid"`` is what turns a misspelt key into an error that names it
    instead of a setting silently ignored.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
