"""One identifier rule for the configuration and for everything read from Redis."""

from __future__ import annotations

import pytest

from emostream.config import ConfigError, parse_config
from emostream.config.ids import check_event_id, check_session_id, check_source_id

BAD = ["", "..", ".", "cam 1", "../x", "a/b", "cam1\n", "cam1\r\nx", "a}b", "a{b", "ü", "x" * 65, "a:b"]
GOOD = ["cam1", "lobby-2.east", "_x", "A.B-c_d", "x" * 64, ".hidden"]


@pytest.mark.parametrize("value", BAD)
def test_a_bad_source_id_is_refused_by_the_readers_and_by_the_configuration(value: str) -> None:
    with pytest.raises(ValueError, match="source id"):
        check_source_id(value)
    with pytest.raises(ConfigError, match="source id must be"):
        parse_config({"sources": [{"id": value, "url": "clip.mp4"}]})


@pytest.mark.parametrize("value", GOOD)
def test_a_good_source_id_is_accepted_everywhere(value: str) -> None:
    assert check_source_id(value) == value and check_session_id(value) == value
    assert parse_config({"sources": [{"id": value, "url": "clip.mp4"}]}).sources[0].id == value


def test_event_ids_may_hold_colons_but_nothing_that_escapes() -> None:
    assert check_event_id("cam1-20260101T000000Z-ab12:42:3") == "cam1-20260101T000000Z-ab12:42:3"
    for bad in ("a/b:1", "a b:1", "a\n", "x" * 201):
        with pytest.raises(ValueError):
            check_event_id(bad)
