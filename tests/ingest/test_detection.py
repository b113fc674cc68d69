"""The real detectors and the tracker on the demo clip, whose face boxes are known (demo.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emostream.config import DetectorConfig, TrackerConfig
from emostream.detector import Detector, make_detector
from emostream.ingest.session import IngestSession
from emostream.ingest.sources import VideoSource
from emostream.ingest.tracking.tracker import iou

DETECTORS = {
    "mediapipe-short": DetectorConfig(backend="mediapipe", mediapipe_model="short"),
    "mediapipe-full": DetectorConfig(backend="mediapipe", mediapipe_model="full"),
    "blazeface-auto": DetectorConfig(backend="blazeface", range="auto"),
    "blazeface-short": DetectorConfig(backend="blazeface", range="short"),
    "haar": DetectorConfig(backend="haar"),
}


@pytest.fixture(scope="module")
def clip(demo_clip: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    frames = [frame.image for frame in VideoSource(str(demo_clip)).frames()]
    truth = json.loads(demo_clip.with_suffix(".json").read_text())
    assert len(frames) == truth["frames"] == 180
    return frames, truth


def match(truth_faces: list[dict[str, Any]], boxes: list[tuple[int, int, int, int]]) -> dict[str, int]:
    """Person id -> index of the detected box that overlaps it best (IoU >= 0.3)."""
    out = {}
    for face in truth_faces:
        scores = [iou(tuple(int(v) for v in face["box"]), box) for box in boxes]  # type: ignore[arg-type]
        if scores and max(scores) >= 0.3:
            out[face["id"]] = int(np.argmax(scores))
    return out


@pytest.mark.parametrize("name", list(DETECTORS))
def test_each_detector_finds_the_demo_faces(clip: tuple[list[np.ndarray], dict[str, Any]], name: str) -> None:
    frames, truth = clip
    found = expected = false_positives = 0
    with make_detector(DETECTORS[name]) as detector:
        for index in range(0, 180, 5):
            boxes = [d.box for d in detector.detect(frames[index])]
            matched = match(truth["faces"][index], boxes)
            found += len(matched)
            expected += len(truth["faces"][index])
            false_positives += len(boxes) - len(set(matched.values()))
    print(f"{name}: {found}/{expected} faces, {false_positives} false positives")
    assert found >= 0.9 * expected, f"{name} found {found} of {expected} visible faces"
    assert false_positives <= 0.05 * expected, f"{name} reported {false_positives} boxes that are no face"


def stretches(truth: dict[str, Any], indices: list[int]) -> dict[tuple[str, int], list[int]]:
    """(person, stretch number) -> the analysed frame indices in that visible stretch.

    A stretch ends when the person is absent from an analysed frame.
    """
    out: dict[tuple[str, int], list[int]] = {}
    count: dict[str, int] = {}
    present_before: set[str] = set()
    for index in indices:
        present = {face["id"] for face in truth["faces"][index]}
        for person in present:
            if person not in present_before:
                count[person] = count.get(person, 0) + 1
            out.setdefault((person, count[person]), []).append(index)
        present_before = present
    return out


def track_clip(frames: list[np.ndarray], truth: dict[str, Any], detector: Detector, step: int) -> dict[tuple[str, int], set[int]]:
    """Run detector + the session's tracker over every ``step``-th frame; the track ids seen in each visible stretch."""
    session = IngestSession("demo", TrackerConfig(), 1.0 / 15)
    indices = list(range(0, len(frames), step))
    stretch_of = {(key[0], index): key for key, members in stretches(truth, indices).items() for index in members}
    ids: dict[tuple[str, int], set[int]] = {}
    for index in indices:
        boxes = [d.box for d in detector.detect(frames[index])]
        track_ids = session.tracker.track(frames[index], boxes, [], index / 15)
        for person, box_index in match(truth["faces"][index], boxes).items():
            track = track_ids[box_index]
            assert track is not None, "a confident detection always gets an id"
            ids.setdefault(stretch_of[(person, index)], set()).add(track)
    return ids


TRACKED = {name: DETECTORS[name] for name in ("mediapipe-short", "mediapipe-full", "blazeface-auto")}


@pytest.mark.parametrize("name", list(TRACKED))
@pytest.mark.parametrize("step", [1, 5])
def test_each_visible_stretch_of_each_person_keeps_one_track_id(
    clip: tuple[list[np.ndarray], dict[str, Any]], name: str, step: int
) -> None:
    """Every frame (15 fps) and every 5th (3 fps, where faces move further between analysed frames)."""
    frames, truth = clip
    with make_detector(TRACKED[name]) as detector:
        ids = track_clip(frames, truth, detector, step)
    assert len(ids) >= 4, f"expected the visible stretches of both people, got {sorted(ids)}"
    for key, seen in ids.items():
        assert len(seen) == 1, f"{key[0]}'s visible stretch #{key[1]} was split over track ids {sorted(seen)}"
    people = {}
    for (person, _), seen in ids.items():
        for track in seen:
            assert people.setdefault(track, person) == person, f"track {track} was given to two people"
