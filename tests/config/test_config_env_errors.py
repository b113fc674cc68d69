"""A broken structured EMOSTREAM_* value shows its YAML error, named by the variable."""

from __future__ import annotations

import pytest

from emostream.config import ConfigError, load_config


def test_a_broken_sources_variable_shows_its_yaml_error() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, environ={"EMOSTREAM_SOURCES": "[{id: cam, url: a.mp4"})
    message = str(raised.value)
    assert message.startswith("EMOSTREAM_SOURCES: not valid YAML"), message
    assert "expected ',' or '}'" in message and "valid list" not in message, message


def test_a_valid_sources_variable_still_works() -> None:
    config = load_config(None, environ={"EMOSTREAM_SOURCES": "[{id: cam, url: a.mp4}]"})
    assert [s.id for s in config.sources] == ["cam"]
