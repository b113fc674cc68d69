"""Configuration: YAML plus EMOSTREAM_* variables, validated with messages that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from emostream.config import ConfigError, dump_config, env_overrides, load_config, parse_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "emostream.yaml"
    path.write_text(text)
    return path


def test_defaults_are_valid_without_a_file() -> None:
    config = load_config(None, environ={})
    assert config.redis.prefix == "emostream"
    assert config.classifier.batch_max == 32
    assert config.sources == []


def test_yaml_file_sets_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {id: cam1, url: rtsp://cam/stream, fps: 5}\nclassifier:\n  batch_max: 64\n")
    config = load_config(path, environ={})
    assert config.sources[0].id == "cam1" and config.sources[0].fps == 5
    assert config.sources[0].is_live, "an rtsp:// source must be treated as live"
    assert config.classifier.batch_max == 64


def test_unknown_key_is_rejected_by_name(tmp_path: Path) -> None:
    path = write(tmp_path, "classifier:\n  batch_maxx: 64\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "classifier.batch_maxx: unknown key" in str(info.value)


def test_wrong_type_and_impossible_value_name_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"classifier": {"batch_max": "many", "batch_wait_ms": -1}})
    message = str(info.value)
    assert "classifier.batch_max" in message and "classifier.batch_wait_ms" in message


def test_duplicate_source_ids_are_rejected() -> None:
    with pytest.raises(ConfigError, match="duplicate source id"):
        parse_config({"sources": [{"id": "a", "url": "x.mp4"}, {"id": "a", "url": "y.mp4"}]})


def test_bad_source_id_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"sources\.0\.id"):
        parse_config({"sources": [{"id": "has space", "url": "x.mp4"}]})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "classifier:\n  batch_max: 64\n")
    config = load_config(path, environ={"EMOSTREAM_CLASSIFIER__BATCH_MAX": "8", "EMOSTREAM_REDIS__URL": "redis://h:1/0"})
    assert config.classifier.batch_max == 8
    assert config.redis.url == "redis://h:1/0"


def test_environment_sources_as_yaml() -> None:
    config = load_config(None, environ={"EMOSTREAM_SOURCES": "[{id: cam1, url: /dev/video0}]"})
    assert config.sources[0].url == "/dev/video0"


def test_unknown_environment_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"classifier\.nope: unknown key"):
        load_config(None, environ={"EMOSTREAM_CLASSIFIER__NOPE": "1"})


def test_password_from_environment_stays_a_string() -> None:
    config = load_config(None, environ={"EMOSTREAM_REDIS__PASSWORD": "12345"})
    assert config.redis.resolved_password() == "12345"


def test_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    config = parse_config({"redis": {"password_file": str(secret)}})
    assert config.redis.resolved_password() == "s3cret"


def test_missing_file_and_bad_yaml_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml", environ={})
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [unclosed"), environ={})
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- a\n- b\n"), environ={})


def test_env_overrides_nest_on_double_underscore() -> None:
    assert env_overrides({"EMOSTREAM_A__B__C": "1", "OTHER": "x", "EMOSTREAM_CONFIG": "f"}) == {"a": {"b": {"c": 1}}}


def test_dumped_config_loads_back_identically(tmp_path: Path) -> None:
    config = parse_config({"sources": [{"id": "a", "url": "x.mp4", "every_nth": 2}], "detector": {"backend": "haar"}})
    again = load_config(write(tmp_path, dump_config(config)), environ={})
    assert again == config


def test_configuration_reference_in_docs_matches_the_code() -> None:
    from emostream.config.doc import render

    page = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    text = page.read_text()
    assert render(text) == text, "docs/configuration.md is stale: run `python -m emostream.config.doc docs/configuration.md`"


@pytest.mark.parametrize("content", [None, "", "\n  \nsecond line\n"], ids=["missing", "empty", "blank first line"])
def test_both_secret_files_follow_one_rule(tmp_path: Path, content: str | None) -> None:
    # Given a Redis and a camera password file that is missing or has no secret on its first line,
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_text(content)
    config = parse_config(
        {"redis": {"password_file": str(secret)}, "sources": [{"id": "cam", "url": "rtsp://admin@cam/live", "password_file": str(secret)}]}
    )
    # then using either is a configuration error that names its key, never an empty password.
    with pytest.raises(ConfigError, match=r"^redis\.password_file .*secret"):
        config.redis.resolved_password()
    with pytest.raises(ConfigError, match=r"^sources\[cam\]\.password_file .*secret"):
        config.sources[0].resolved_url()
    # And once the file holds a secret, both read its first line, trimmed.
    secret.write_text("  s3cret \nignored\n")
    assert config.redis.resolved_password() == "s3cret"
    assert config.sources[0].resolved_url() == "rtsp://admin:s3cret@cam/live"
