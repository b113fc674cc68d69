"""Tracker settings: the re-identification window must fit the aggregator's track timeouts; the detector glue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emostream.config import ConfigError, DetectorConfig, TrackerConfig, load_config
from emostream.detector import Detection
from emostream.ingest.tracking.detections import confident_from, detector_config, track_faces
from emostream.ingest.tracking.tracker import Tracker, TrackerParams


def test_a_reid_window_longer_than_the_track_timeout_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "emostream.yaml"
    path.write_text("tracker:\n  reid_window_s: 30\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "tracker.reid_window_s" in message and "tracks.end_after_s" in message and "at least 30" in message, message


def test_a_long_reid_window_with_matching_track_timeouts_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "emostream.yaml"
    path.write_text("tracker:\n  reid_window_s: 30\ntracks:\n  end_after_s: 30\n  idle_end_s: 30\n")
    assert load_config(path, environ={}).tracker.reid_window_s == 30


def test_the_defaults_fit_together() -> None:
    config = load_config(None, environ={})
    assert 0 < config.tracker.reid_window_s <= config.tracks.end_after_s


def test_mediapipe_is_asked_for_low_score_faces_and_haar_is_left_alone() -> None:
    tracker = TrackerConfig(low_score=0.3)
    assert detector_config(DetectorConfig(min_score=0.5), tracker).min_score == 0.3
    assert detector_config(DetectorConfig(min_score=0.2), tracker).min_score == 0.2, "never raise the user's threshold"
    assert confident_from(DetectorConfig(min_score=0.5)) == 0.5
    assert confident_from(DetectorConfig(backend="haar", min_score=0.5)) == 0.0, "Haar's scores are no probabilities"


def test_only_low_score_boxes_that_continue_a_track_are_published() -> None:
    frame = np.full((240, 320, 3), 90, np.uint8)
    frame[60:140, 100:180] = (40, 120, 200)  # a "face" with a colour of its own
    tracker = Tracker(TrackerParams())
    [(_, track)] = track_faces(tracker, frame, [Detection(100, 60, 80, 80, 0.9)], 0.5, 0.0)
    unsure = [Detection(102, 60, 80, 80, 0.35), Detection(250, 150, 40, 40, 0.35)]
    published = track_faces(tracker, frame, unsure, 0.5, 0.1)
    assert published == [(unsure[0], track)], f"the unsure box on the face continues it, the stray one is dropped: {published}"


def test_the_descriptor_is_the_same_whether_the_frame_comes_in_rgb_or_bgr() -> None:
    """Ingest may decode straight to the detector's colour (RGB for BlazeFace)."""
    from emostream.ingest.tracking.appearance import describe

    rng = np.random.default_rng(1)
    bgr = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    assert np.allclose(describe(bgr, (20, 20, 60, 60)), describe(rgb, (20, 20, 60, 60), "rgb"))
