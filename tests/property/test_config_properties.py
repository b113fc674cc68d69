"""Properties of configuration loading: any input gives a Config or a ConfigError, and valid ones round-trip.

A configuration comes from people (YAML typed by hand, shell variables), so the
loader must turn every mistake into a ConfigError naming the key, never crash
with another exception, and must not change a valid configuration on its way
through ``dump_config`` (how ``emostream run`` hands it to its workers) or the
environment.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from emostream.config import Config, ConfigError, dump_config, load_config, parse_config
from tests.property.strategies import ENV_NAMES, any_config_data, env_name, plain_text, valid_config_data, yamlish

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def valid(data: dict[str, Any]) -> Config:
    """The config ``data`` describes; examples broken only by a cross-field rule are discarded."""
    try:
        return parse_config(data)
    except ConfigError as exc:
        # Cross-field rules (model validators) answer "Value error, ..."; the strategies
        # do not model them, so such examples are discarded. Any other refusal is a failure.
        assume("Value error" not in str(exc))
        raise AssertionError(f"a generated valid configuration was refused:\n{exc}\n{data}") from None


@PROPERTY_SETTINGS
@given(any_config_data())
def test_any_mapping_gives_a_config_or_a_config_error(data: dict[Any, Any]) -> None:
    try:
        config = parse_config(data)
    except ConfigError as exc:
        assert str(exc).startswith("invalid configuration"), str(exc)
        return
    assert isinstance(config, Config)


@PROPERTY_SETTINGS
@given(st.dictionaries(ENV_NAMES, plain_text | yamlish, max_size=6))
@example({"EMOSTREAM_CLASSIFIER__BATCH_MAX": "2024-13-45"})
@example({"EMOSTREAM_CLASSIFIER__BATCH_MAX": "[" * 5000})
@example({"EMOSTREAM_REDIS": "1", "EMOSTREAM_REDIS__URL": "redis://h/0"})
def test_any_environment_gives_a_config_or_a_config_error(environ: dict[str, str]) -> None:
    try:
        config = load_config(None, environ=environ)
    except ConfigError:
        return
    assert isinstance(config, Config)


@PROPERTY_SETTINGS
@given(plain_text | yamlish | st.binary(max_size=40).map(lambda b: b.decode("latin-1")) | st.builds(yaml.safe_dump, any_config_data()))
@example("redis: {url: 2024-13-45}")
@example("a: " + "[" * 5000)
@example("\udcff")
def test_any_file_gives_a_config_or_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "emostream.yaml"
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        try:
            config = load_config(path, environ={})
        except ConfigError:
            return
    assert isinstance(config, Config)


def test_a_folder_or_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    for bad in (tmp_path, tmp_path / "binary.yaml"):
        if bad.suffix:
            bad.write_bytes(b"\xff\xfe\x00redis: {}")
        try:
            load_config(bad, environ={})
        except ConfigError as exc:
            assert str(bad) in str(exc), str(exc)
        else:
            raise AssertionError(f"{bad} was accepted as a configuration file")


@PROPERTY_SETTINGS
@given(valid_config_data())
def test_a_valid_config_round_trips_through_dump_config(data: dict[str, Any]) -> None:
    config = valid(data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dumped.yaml"
        path.write_text(dump_config(config))
        again = load_config(path, environ={})
    assert again == config, f"dump_config changed the configuration:\n{dump_config(config)}"


def as_environment(config: Config) -> dict[str, str]:
    """Every setting of ``config`` as the EMOSTREAM_* variable a user would write (scalars as typed)."""
    environ: dict[str, str] = {}
    for name, value in config.model_dump(mode="json").items():
        if isinstance(value, dict):
            for key, leaf in value.items():
                if isinstance(leaf, dict):  # a nested section (aggregator.tracks): one more level
                    for sub, subleaf in leaf.items():
                        environ[env_name([name, key, sub])] = scalar(subleaf)
                else:
                    environ[env_name([name, key])] = scalar(leaf)
        elif isinstance(value, list):
            environ[env_name([name])] = yaml.safe_dump(value, default_flow_style=True)
        else:
            environ[env_name([name])] = scalar(value)
    return environ


def scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@PROPERTY_SETTINGS
@given(valid_config_data())
@example({"redis": {"prefix": "2024"}})
@example({"redis": {"prefix": "on"}, "classifier": {"model": "null"}})
@example({"sources": [{"id": "1", "url": "0"}]})
def test_a_valid_config_round_trips_through_the_environment(data: dict[str, Any]) -> None:
    """Text settings stay text: a prefix of "2024" or a model named "null" is not turned into a number or nothing."""
    config = valid(data)
    environ = as_environment(config)
    try:
        again = load_config(None, environ=environ)
    except ConfigError as exc:
        raise AssertionError(f"{exc}\nfrom {environ}") from None
    assert again == config, f"the environment changed the configuration: {environ}"
