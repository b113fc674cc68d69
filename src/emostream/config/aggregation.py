"""Sections of the aggregating stage: ``tracks`` (per-track smoothing) and ``aggregator`` (sessions)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from emostream.config.base import Section


class TracksConfig(Section):
    """Per-track smoothing and the track lifecycle (see docs/aggregator.md)."""

    smoothing: Literal["ema", "vote"] = Field(
        "ema", description="ema: exponential moving average of the probabilities; vote: time-weighted vote of the labels over a window."
    )
    window_s: float = Field(1.0, gt=0, le=600, description="Media seconds: the EMA's time constant, or the length of the vote window.")
    hysteresis: float = Field(0.15, ge=0, lt=1, description="Smoothed score by which a new label must lead the current one to replace it.")
    min_dwell_s: float = Field(
        0.3, ge=0, le=60, description="Media seconds a new label must keep that lead before the track switches to it."
    )
    update_interval_s: float = Field(
        5.0, ge=0, description="Media seconds between periodic 'update' events of a track (0: only on a label change)."
    )
    end_after_s: float = Field(2.0, gt=0, description="A track not seen for this long in session media time ends.")
    idle_end_s: float = Field(
        10.0, gt=0, description="A track that received no event for this long in wall-clock time ends (a live camera with nobody in view)."
    )
    maxlen: int = Field(100_000, ge=100, description="Approximate cap of each per-source tracks stream.")


class AggregatorConfig(Section):
    summary_dir: Path = Field(Path("sessions"), description="Folder for session summaries (JSON) and timeline charts (PNG).")
    end_grace_s: float = Field(30.0, gt=0, description="After a session ends, wait this long for its last events before summarising.")
    share_window_s: float = Field(60.0, gt=0, description="Window of the rolling emotion share metric.")
    chart_bucket_s: int = Field(5, ge=1, le=3600, description="Width of the time buckets of the timeline chart.")
    retention_s: int = Field(30 * 86400, ge=60, description="How long session summaries are kept in Redis.")
    expire_after_s: float | None = Field(
        None, gt=0,
        description="Off by default. Delete emotion events, track events and session summaries older than this: "
        "the events, tracks and sessions streams are trimmed (XTRIM MINID) and summary files in summary_dir pruned. See docs/privacy.md.",
    )
    expire_every_s: float = Field(60.0, gt=0, le=86400, description="With expire_after_s: how often the aggregator deletes what has expired.")
    reorder_ms: float = Field(
        500.0, ge=0, le=10_000, description="Events are held this long and applied to their tracks in frame order (out-of-order replicas)."
    )
    claim_idle_ms: int = Field(30_000, ge=100, description="Entries pending this long at another aggregator (a crashed one) are claimed.")
    max_deliveries: int = Field(5, ge=1, description="An entry delivered this many times without success goes to the dead-letter stream.")
    lease_s: float = Field(
        10.0, ge=1, le=600,
        description="Aggregators divide the sources with leases of this length: a dead aggregator's sources are taken within about this long.",
    )

    @property
    def summary_ttl_s(self) -> int:
        """How long a stored summary key lives: ``retention_s``, or less when everything expires sooner."""
        if self.expire_after_s is None:
            return self.retention_s
        return max(1, min(self.retention_s, int(self.expire_after_s)))

    @model_validator(mode="after")
    def _hold_shorter_than_claim(self) -> AggregatorConfig:
        # Held events are pending in Redis; holding them past claim_idle_ms would let another aggregator claim them.
        if self.reorder_ms * 2 > self.claim_idle_ms:
            raise ValueError("aggregator.reorder_ms must be at most half of aggregator.claim_idle_ms")
        return self
