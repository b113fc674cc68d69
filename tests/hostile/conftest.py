"""Fixtures of the hostile tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed parts are tried again at once (the aggregator waits faults.RETRY_S between tries)."""
    try:
        from emostream.aggregator import faults
    except ImportError:  # an aggregator without bounded retries (the code before issue 24) has nothing to wait for
        return
    monkeypatch.setattr(faults, "RETRY_S", 0.0)
