"""The glue benchmark drains a real queue through the real replica and checks every face got one event."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.glue import measure

pytestmark = pytest.mark.timeout(120)


def test_the_glue_benchmark_drains_every_face_once_and_reports_a_rate(tmp_path: Path) -> None:
    result = measure(batch=64, faces=600, workdir=tmp_path, profile=tmp_path / "glue.prof")
    assert result.faces == 600 and result.faces_s > 0, result
    assert (tmp_path / "glue.prof").stat().st_size > 0, "the profile of the replica's threads was not written"


def test_the_glue_benchmark_on_a_cluster_drains_every_shard_once(tmp_path: Path) -> None:
    result = measure(batch=64, faces=600, workdir=tmp_path, cluster=True)
    assert result.faces == 600 and result.faces_s > 0, result
