"""End to end: a swap in place, through the real processes; each person gets their own track and emotion.

The swap clip (tests/data/tracking/swap.mp4) shows one seat: astronaut (smiling),
then Grace Hopper in the very same place, then astronaut again. Before issue #15
the newcomer inherited the track, and its summary blended two people's faces.
"""

from __future__ import annotations

import json
import signal
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import redis
import yaml

from emostream.ingest.tracking.geometry import iou
from emostream.streams.keys import Keys
from tests.conftest import REPO, RedisServer, free_port
from tests.e2e.test_pipeline import spawn
from tests.helpers import wait_for

pytestmark = pytest.mark.slow
CLIP = REPO / "tests" / "data" / "tracking" / "swap.mp4"


def test_per_track_summaries_of_a_swap_name_one_dominant_emotion_per_person(
    redis_server: RedisServer, prefix: str, tmp_path: Path, rclient: redis.Redis
) -> None:
    config = {
        "redis": {"url": redis_server.url, "prefix": prefix},
        "sources": [{"id": "seat", "url": str(CLIP)}],
        "http": {f"{role}_port": free_port() for role in ("aggregator", "classifier", "ingest")},
        "aggregator": {"summary_dir": str(tmp_path / "sessions")},
        "tracker": {"reid_window_s": 10.0},  # astronaut comes back after 2 s
        "tracks": {"end_after_s": 10.0},  # the aggregator keeps her track open that long
    }
    config_file = tmp_path / "emostream.yaml"
    config_file.write_text(yaml.safe_dump(config))
    keys = Keys(prefix)
    procs = {role: spawn(role, config_file, tmp_path / f"{role}.log") for role in ("aggregate", "classify", "ingest")}
    try:
        raw = wait_for(lambda: rclient.xrange(keys.sessions), 240, "no session summary was published")
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(60)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    summary = json.loads(raw[0][1][b"data"])
    truth = json.loads(CLIP.with_suffix(".json").read_text())["faces"]

    # Who each track is: the ground-truth person its boxes overlap, frame by frame.
    people_of_track: dict[int, Counter[str]] = defaultdict(Counter)
    for _, fields in rclient.xrange(keys.events("seat")):
        event = json.loads(fields[b"data"])
        b = event["face"]["box"]
        box = (b["x"], b["y"], b["w"], b["h"])
        for face in truth[event["frame"]["seq"]]:
            if iou(box, tuple(round(v) for v in face["box"])) >= 0.5:  # type: ignore[arg-type]
                people_of_track[event["face"]["track_id"]][face["id"]] += 1
    mixed = {track: dict(people) for track, people in people_of_track.items() if len(people) > 1}
    assert not mixed, f"tracks that hold two people: {mixed}"
    person_of = {track: people.most_common(1)[0][0] for track, people in people_of_track.items()}

    dominant: dict[str, set[str]] = defaultdict(set)
    for track in summary["track_summaries"]:
        if track["track_id"] in person_of and track["faces"] >= 5:  # a face seen for a few frames names nothing
            dominant[person_of[track["track_id"]]].add(track["dominant"])
    assert set(dominant) == {"astronaut", "hopper"}, f"both people should have a track: {summary['track_summaries']}"
    for person, labels in dominant.items():
        assert len(labels) == 1, f"{person}'s tracks name several dominant emotions: {labels}"
    assert dominant["astronaut"] == {"happy"}, f"the smiling astronaut reads as {dominant['astronaut']}"
    assert dominant["astronaut"] != dominant["hopper"], "the two people should read differently"
    tracks_of = defaultdict(set)
    for track, person in person_of.items():
        tracks_of[person].add(track)
    assert len(tracks_of["astronaut"]) == 1, f"astronaut's return within the window should keep her track: {dict(tracks_of)}"
