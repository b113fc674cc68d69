"""The end-of-run report: two durations per session, and which file sources failed."""

from __future__ import annotations

from emostream.config import SourceConfig
from emostream.run.report import duration_text, failed_sources


def test_a_summary_shows_media_time_and_processing_time_apart() -> None:
    assert duration_text({"duration_s": 2.83, "media_duration_s": 12.0}) == "12.0 s of video, processed in 2.8 s"
    assert duration_text({"duration_s": 2.83}) == "2.8 s", "a summary from before media_duration_s shows what it has"


def test_failed_sources_are_files_that_never_started_or_ended_on_an_error() -> None:
    sources = [
        SourceConfig(id="ok", url="a.mp4"),
        SourceConfig(id="missing", url="b.mp4"),
        SourceConfig(id="broken", url="c.mp4"),
        SourceConfig(id="cam", url="rtsp://camera/stream"),
    ]
    summaries = [
        {"source": "ok", "session": "ok-1", "end_reason": "eof"},
        {"source": "broken", "session": "broken-1", "end_reason": "error"},
    ]
    failed = failed_sources(sources, {"ok", "broken"}, summaries)
    assert set(failed) == {"missing", "broken"}, "a live camera that never came up is retried, not failed"
    assert "could not be opened" in failed["missing"] and "broken-1" in failed["broken"]
    assert failed_sources(sources[:1], {"ok"}, summaries[:1]) == {}
