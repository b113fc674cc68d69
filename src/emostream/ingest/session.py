"""Per-session state of one source: ids, counters, the tracker and the media clock."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from emostream.config import TrackerConfig
from emostream.ingest.tracking.tracker import Tracker, TrackerParams
from emostream.streams.lifecycle import SessionEnd, SessionStart


def new_session_id(source: str, now: float | None = None) -> str:
    """Sortable and unique: ``<source>-<UTC time>-<random>``."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{source}-{stamp}-{secrets.token_hex(2)}"


@dataclass
class IngestSession:
    source: str
    tracker_cfg: TrackerConfig
    nominal_interval: float
    id: str = ""
    started_ts: float = field(default_factory=time.time)
    seq: int = 0
    analysed: int = 0
    dropped: int = 0  # every reason, see dropped_age
    dropped_age: int = 0  # of which: the faces queue was older than ingest.max_queue_age_ms
    failed: int = 0
    faces: int = 0
    faces_skipped: int = 0
    faces_unconfirmed: int = 0  # faces of tracks not (yet) confirmed: not published, not in ``faces``
    skipped: int = 0
    _first_pts: float | None = None
    _last_offset: float | None = None
    _last_interval: float = 0.0

    def __post_init__(self) -> None:
        self.id = self.id or new_session_id(self.source, self.started_ts)
        c = self.tracker_cfg
        self.tracker = Tracker(TrackerParams(c.iou_threshold, c.max_missed, c.max_distance, c.appearance_distance, c.reid_window_s, c.reid_distance,
                                             c.confirm_hits, c.confirm_score, c.check_tries))

    def clock(self, pts: float, captured_ts: float, live: bool) -> tuple[float, float]:
        """(offset, interval) of an analysed frame: media time for files, wall time for live."""
        if live:
            offset = max(0.0, captured_ts - self.started_ts)
        else:
            if self._first_pts is None:
                self._first_pts = pts
            offset = max(0.0, pts - self._first_pts)
        interval = self.nominal_interval if self._last_offset is None else max(0.0, offset - self._last_offset)
        self._last_offset, self._last_interval = offset, interval
        return offset, interval

    def media_clock(self) -> tuple[float | None, float | None]:
        """(first pts, last offset): where :meth:`clock` stands, for a checkpoint."""
        return self._first_pts, self._last_offset

    def resume_clock(self, first_pts: float | None, last_offset: float | None) -> None:
        """Continue :meth:`clock` from a checkpoint's :meth:`media_clock`."""
        self._first_pts, self._last_offset = first_pts, last_offset

    def start_message(self, url: str) -> SessionStart:
        return SessionStart(self.source, self.id, self.started_ts, url)

    def end_message(self, reason: str, ended_ts: float | None = None) -> SessionEnd:
        return SessionEnd(
            source=self.source,
            session=self.id,
            started_ts=self.started_ts,
            ended_ts=time.time() if ended_ts is None else ended_ts,
            reason=reason,
            frames_analysed=self.analysed,
            frames_dropped=self.dropped,
            frames_failed=self.failed,
            faces=self.faces,
            faces_skipped=self.faces_skipped,
            frames_skipped=self.skipped,
            frames_dropped_age=self.dropped_age,
            media_s=self.media_s,
        )

    @property
    def media_s(self) -> float:
        """Media time covered: the last analysed frame's offset plus the interval it stands for."""
        return 0.0 if self._last_offset is None else round(self._last_offset + self._last_interval, 3)
