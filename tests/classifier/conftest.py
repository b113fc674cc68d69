"""Fixtures for tests that run real worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.classifier.procs import Procs


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Processes started by the test; stopped (SIGCONT, SIGTERM, then SIGKILL) whatever happens."""
    running = Procs(tmp_path)
    yield running
    running.stop_all()
