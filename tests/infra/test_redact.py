"""Credentials never reach logs."""

from __future__ import annotations

import logging

import pytest

from emostream.infra.redact import RedactingFilter, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
        ("redis://:hunter2@localhost:6379/0", "redis://***@localhost:6379/0"),
        ("rediss://user:pw@host", "rediss://user:***@host"),
        ("failed to open rtsp://a:b@h/x and rtsp://c:d@h/y", "failed to open rtsp://a:***@h/x and rtsp://c:***@h/y"),
        ("/videos/clip.mp4", "/videos/clip.mp4"),
    ],
)
def test_redact_masks_passwords_in_urls(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_log_filter_redacts_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactingFilter(("topsecret",)))
    try:
        with caplog.at_level(logging.INFO, logger="test.redact"):
            logger.info("opening %s", "rtsp://admin:hunter2@cam/1")
            logger.info("password is topsecret")
            try:
                raise OSError("connect rtsp://admin:hunter2@cam/1 failed")
            except OSError:
                logger.exception("boom")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert "hunter2" not in text and "topsecret" not in text, text
    assert "rtsp://admin:***@cam/1" in text
