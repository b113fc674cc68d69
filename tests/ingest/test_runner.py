"""SourceRunner with fakes: DESIGN's session rules, reconnect backoff and backpressure, without Redis or a wall clock."""

from __future__ import annotations

import itertools

from emostream.ingest import checkpoint
from emostream.ingest.errors import SourceError
from emostream.ingest.policy import QueueState, SourceState
from tests.ingest.fakes import FakeRgbDetector, build

DOWN = SourceError("unreachable", "rtsp://cam.example/stream", "connection refused")


def test_a_reconnect_within_the_session_timeout_continues_the_session() -> None:
    # Given a camera that delivers 5 frames, drops, and is back at the first retry (0.5 s < the 30 s timeout),
    rig = build([5, 5], ingest={"session_timeout_s": 30.0})
    # when the runner runs until shut down,
    rig.runner.run()
    # then both connections' frames belong to one session, ended once, when stopped.
    pub = rig.publisher
    assert len(pub.starts) == 1, f"a short outage must not start a new session: {pub.starts}"
    assert [e.reason for e in pub.ends] == ["stopped"], pub.ends
    assert set(pub.sessions_of_frames()) == {pub.starts[0].session} and len(pub.frames) == 10, pub.sessions_of_frames()
    assert pub.ends[0].frames_analysed == 10 and pub.ends[0].faces == 10, pub.ends[0]
    assert rig.metric("emostream_ingest_reconnects_total") == 2.0, "each disconnect is followed by one reconnect attempt"
    assert rig.runner.state is SourceState.STOPPED


def test_an_outage_longer_than_the_session_timeout_ends_the_session_at_the_timeout_and_starts_a_new_one() -> None:
    # Given a 3 s session timeout and a camera down for 0.5 + 1 + 2 + 4 s of retries before it is back,
    rig = build([4, DOWN, DOWN, DOWN, 3], ingest={"session_timeout_s": 3.0})
    rig.runner.run()
    pub = rig.publisher
    first, second = (s.session for s in pub.starts)
    # then the first session ended with reason timeout, about 3 s after the camera went down (not at the reconnect),
    assert [(e.session, e.reason) for e in pub.ends] == [(first, "timeout"), (second, "stopped")], pub.ends
    went_down = rig.script.opened[1] - 0.5  # the first retry came 0.5 s after the disconnect
    ended_after = pub.ends[0].ended_ts - rig.clock.epoch - went_down
    assert 3.0 < ended_after <= 3.05, f"the session should end once the timeout passes, not {ended_after:.2f} s after the outage"
    # and the frames after the outage belong to a new session.
    assert pub.sessions_of_frames() == [first] * 4 + [second] * 3, pub.sessions_of_frames()
    assert pub.ends[0].frames_analysed == 4 and pub.ends[1].frames_analysed == 3


def test_a_live_session_longer_than_session_max_is_cut_into_periods_that_lose_no_frame() -> None:
    # Given a camera that streams 50 frames at 10 fps without a break and a 2 s cap on a session,
    rig = build([50], ingest={"session_max_s": 2.0})
    rig.runner.run()
    pub = rig.publisher
    ids = [s.session for s in pub.starts]
    # then it is cut every 2 s into three sessions, each ended once (the first two by the cap),
    assert [(e.session, e.reason) for e in pub.ends] == list(zip(ids, ["max_duration", "max_duration", "stopped"], strict=True)), pub.ends
    for start, end in zip(pub.starts, pub.ends[:2], strict=False):
        assert 2.0 <= end.ended_ts - start.started_ts < 2.15, f"{start.session} ran {end.ended_ts - start.started_ts:.2f} s"
    # and every frame and face belongs to exactly one of them, each session announcing the faces it holds.
    assert len(pub.frames) == 50 and pub.sessions_of_frames() == [ids[0]] * 20 + [ids[1]] * 20 + [ids[2]] * 10, pub.sessions_of_frames()
    assert [e.faces for e in pub.ends] == [20, 20, 10] and sum(e.frames_analysed for e in pub.ends) == 50, pub.ends


def test_session_max_never_cuts_a_file() -> None:
    # Given a file (not live) of 30 frames and a session cap far shorter than the file,
    rig = build([30], ingest={"session_max_s": 0.5}, live=False)
    rig.runner.run()
    # then it stays one session, ended at its end.
    assert len(rig.publisher.starts) == 1 and [e.reason for e in rig.publisher.ends] == ["eof"], rig.publisher.ends


def test_reconnect_delays_double_up_to_the_cap_and_start_over_after_a_connection() -> None:
    # Given a camera that refuses 5 connections, then delivers 2 frames, drops, refuses once and comes back (no jitter),
    rig = build([DOWN] * 5 + [2, DOWN, 1], ingest={"reconnect_initial_s": 0.5, "reconnect_max_s": 4.0})
    rig.runner.run()
    at = rig.script.opened
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(at)]
    # then the retries wait 0.5, 1, 2, 4 and 4 s (capped); after a good connection they start again at 0.5 s.
    assert gaps[:5] == [0.5, 1.0, 2.0, 4.0, 4.0], gaps
    streamed = gaps[5] - 0.5  # 2 frames at 10 fps, paced
    assert 0.1 < streamed < 0.3 and gaps[6] == 1.0, f"after the connection: its frames + 0.5 s, then 1 s: {gaps}"
    assert rig.metric("emostream_ingest_reconnects_total") == len(at) - 1, "every attempt after the first is a reconnect"
    assert rig.metric("emostream_ingest_source_errors_total", kind="unreachable") == 7.0, "6 refusals + the one that ends the script"


def test_giving_up_after_reconnect_attempts_fails_the_source() -> None:
    rig = build([DOWN] * 10, ingest={"reconnect_attempts": 3})
    rig.runner.run()
    assert len(rig.script.opened) == 4, f"1 attempt and 3 retries, then give up: {rig.script.opened}"
    assert rig.runner.state is SourceState.FAILED and rig.publisher.starts == []


def test_a_live_source_drops_frames_while_the_queue_is_older_than_the_bound_and_counts_the_reason() -> None:
    # Given a live source at 10 fps whose classifiers' queue is 2 s old between t+1 s and t+2 s,
    def queue(t: float) -> QueueState:
        return QueueState(backlog=40, oldest_age_ms=2_000.0) if 1_001.0 <= t < 1_002.0 else QueueState(backlog=3, oldest_age_ms=40.0)

    rig = build([30], ingest={"max_queue_age_ms": 750}, queue=queue)
    rig.runner.run()
    end = rig.publisher.ends[0]
    # then about 10 frames (1 s) are dropped for age, the rest analysed, and the counts agree everywhere.
    assert 9 <= end.frames_dropped_age <= 11 and end.frames_dropped == end.frames_dropped_age, end
    assert end.frames_analysed + end.frames_dropped == 30, end
    assert rig.metric("emostream_ingest_frames_dropped_total", reason="age") == end.frames_dropped_age
    assert rig.metric("emostream_ingest_frames_dropped_total", reason="backlog") == 0.0, "the backlog reason exists from the start at 0"
    assert rig.metric("emostream_ingest_frames_total", outcome="dropped") == end.frames_dropped


def test_a_live_source_drops_for_backlog_when_the_queue_is_full_but_fresh() -> None:
    rig = build([10], ingest={"backlog_max": 100, "max_queue_age_ms": 750}, queue=lambda _t: QueueState(backlog=100, oldest_age_ms=10.0))
    rig.runner.run()
    assert rig.metric("emostream_ingest_frames_dropped_total", reason="backlog") == 10.0
    assert rig.publisher.frames == [] and rig.publisher.starts == [], "nothing analysed, so no session"


def test_no_age_bound_when_max_queue_age_ms_is_0() -> None:
    rig = build([10], ingest={"max_queue_age_ms": 0}, queue=lambda _t: QueueState(backlog=5, oldest_age_ms=60_000.0))
    rig.runner.run()
    assert rig.publisher.ends[0].frames_analysed == 10 and rig.publisher.ends[0].frames_dropped == 0


def test_a_file_waits_for_the_classifiers_and_drops_nothing() -> None:
    # Given a file of 20 frames, and classifiers that are far behind (stale and full) for the first 2 s,
    def queue(t: float) -> QueueState:
        return QueueState(backlog=5_000, oldest_age_ms=9_000.0) if t < 1_002.0 else QueueState()

    rig = build([20], live=False, queue=queue)
    rig.runner.run()
    end = rig.publisher.ends[0]
    # then every frame is analysed, after the wait, none dropped, and the file's session ends at eof.
    assert end.reason == "eof" and end.frames_analysed == 20 and end.frames_dropped == 0, end
    assert rig.clock.monotonic() >= 1_002.0, "the file must have waited for the backlog to clear"
    assert rig.runner.state is SourceState.ENDED
    assert all(job.max_age_ms == 0 for _, _, jobs in rig.publisher.frames for job in jobs), "file faces are never dropped for age"


def test_live_faces_carry_the_freshness_bound() -> None:
    rig = build([3], ingest={"max_queue_age_ms": 600})
    rig.runner.run()
    assert [job.max_age_ms for _, _, jobs in rig.publisher.frames for job in jobs] == [600.0] * 3


def test_frames_skipped_by_pacing_are_never_converted_and_the_detector_gets_its_own_colour() -> None:
    # Given a file analysed every 4th frame by a detector that wants RGB,
    rig = build([20], live=False, source={"every_nth": 4}, detector=FakeRgbDetector)
    rig.runner.run()
    # then only the 5 analysed frames were converted, each once, straight to RGB (no BGR pass).
    assert rig.script.sources[0].conversions == ["rgb24"] * 5, rig.script.sources[0].conversions
    assert rig.publisher.ends[0].frames_analysed == 5


def checkpoint_of(session: str, updated_ts: float, live: bool = True) -> dict[str, object]:
    """What a killed ingest left in Redis for the camera (see ingest/checkpoint.py)."""
    return {
        "v": 1, "session": session, "started_ts": updated_ts - 60, "frame_index": 41, "url": checkpoint.url_fingerprint("rtsp://cam.example/stream"),
        "live": live, "first_pts": None, "last_offset": 59.0, "tracker": {"next_id": 3, "tracks": []}, "updated_ts": updated_ts,
        "seq": 42, "analysed": 42,
    }


def test_a_restarted_ingest_continues_a_live_session_its_checkpoint_shows_recent() -> None:
    rig = build([3], ingest={"session_timeout_s": 30.0})
    rig.publisher.stored = checkpoint_of("cam-old", rig.clock.time() - 5.0)
    rig.runner.run()
    pub = rig.publisher
    assert pub.starts == [] and [e.session for e in pub.ends] == ["cam-old"], "a 5 s old checkpoint continues its session"
    assert pub.ends[0].frames_analysed == 45, pub.ends[0]


def test_a_restarted_ingest_ends_a_live_session_left_too_long_and_starts_anew() -> None:
    rig = build([3], ingest={"session_timeout_s": 30.0})
    rig.publisher.stored = checkpoint_of("cam-old", rig.clock.time() - 120.0)
    rig.runner.run()
    pub = rig.publisher
    assert (pub.ends[0].session, pub.ends[0].reason) == ("cam-old", "timeout"), pub.ends
    assert len(pub.starts) == 1 and pub.ends[1].session == pub.starts[0].session and pub.ends[1].frames_analysed == 3
