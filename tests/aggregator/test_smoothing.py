"""Track smoothing and hysteresis as pure functions: no Redis, no clock."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from emostream.aggregator.smoothing import Observation, Smoother, TrackEvent, TrackState
from emostream.config import TracksConfig
from emostream.infra.emotions import EMOTIONS


def probs(**mass: float) -> tuple[float, ...]:
    """Probabilities with the given mass per emotion and the rest spread evenly."""
    rest = (1.0 - sum(mass.values())) / (len(EMOTIONS) - len(mass))
    return tuple(mass.get(e, rest) for e in EMOTIONS)


def obs(seq: int, fps: float = 10.0, **mass: float) -> Observation:
    box = {"x": 1, "y": 2, "w": 3, "h": 4}
    return Observation(seq=seq, offset=seq / fps, interval=1 / fps, probabilities=probs(**mass), box=box, wall_ts=0.0)


def run(cfg: TracksConfig, observations: list[Observation]) -> tuple[TrackState, list[TrackEvent]]:
    smoother = Smoother(cfg)
    state, first = smoother.start("cam1", "s1", 7, observations[0])
    events = [first]
    for o in observations[1:]:
        events.extend(smoother.apply(state, o))
    return state, events


def labels_over_time(cfg: TracksConfig, observations: list[Observation]) -> list[str]:
    smoother = Smoother(cfg)
    state, _ = smoother.start("cam1", "s1", 7, observations[0])
    out = [state.label]
    for o in observations[1:]:
        smoother.apply(state, o)
        out.append(state.label)
    return out


@pytest.mark.parametrize("method", ["ema", "vote"])
def test_a_noisy_face_does_not_flicker(method: str) -> None:
    # Given a face that is mostly happy, with a sad frame every third frame
    cfg = TracksConfig(smoothing=method, window_s=1.0, update_interval_s=0)
    seq = [obs(i, sad=0.7) if i % 3 == 2 else obs(i, happy=0.6) for i in range(60)]
    # When it is smoothed
    labels = labels_over_time(cfg, seq)
    # Then the label never leaves happy, while the raw label changed 39 times
    raw = [EMOTIONS[max(range(7), key=lambda k, o=o: o.probabilities[k])] for o in seq]  # type: ignore[misc]
    assert sum(a != b for a, b in itertools.pairwise(raw)) > 30, "the test input should flicker"
    assert set(labels) == {"happy"}, f"{method}: smoothed labels flickered: {labels}"


@pytest.mark.parametrize("method", ["ema", "vote"])
def test_a_lasting_change_switches_the_label_once(method: str) -> None:
    # Given 3 s of happy, then 3 s of sad, at 10 fps
    cfg = TracksConfig(smoothing=method, window_s=1.0, hysteresis=0.15, min_dwell_s=0.3, update_interval_s=0)
    seq = [obs(i, happy=0.8) for i in range(30)] + [obs(i, sad=0.8) for i in range(30, 60)]
    # When it is smoothed
    state, events = run(cfg, seq)
    # Then there is exactly one label change, to sad, within 1.5 s of the change
    changes = [e for e in events if e.reason == "label_changed"]
    assert len(changes) == 1, f"expected one label change, got {[(e.before, e.after) for e in changes]}"
    change = changes[0]
    assert change.type == "update" and change.before is not None
    assert (change.before["label"], change.after["label"]) == ("happy", "sad")
    assert 3.0 < change.after["last_s"] <= 4.5, f"switched at {change.after['last_s']} s"
    assert state.label == "sad" and state.label_changes == 1


def test_hysteresis_holds_a_label_against_a_small_lead() -> None:
    # Given a track that is happy, then a long stretch where neutral leads happy by only 0.05
    cfg = TracksConfig(window_s=0.5, hysteresis=0.15, min_dwell_s=0.0, update_interval_s=0)
    seq = [obs(i, happy=0.8) for i in range(10)] + [obs(i, neutral=0.45, happy=0.40) for i in range(10, 80)]
    # When it is smoothed
    labels = labels_over_time(cfg, seq)
    # Then the label stays happy, because the lead never reaches the hysteresis margin
    assert set(labels) == {"happy"}, labels
    # ... while without hysteresis it would have switched
    assert labels_over_time(cfg.model_copy(update={"hysteresis": 0.0}), seq)[-1] == "neutral"


def test_min_dwell_ignores_a_short_burst() -> None:
    # Given a happy track with a 0.2 s burst of strong surprise
    cfg = TracksConfig(window_s=0.2, hysteresis=0.1, min_dwell_s=0.5, update_interval_s=0)
    burst = [obs(i, surprise=0.95) for i in range(20, 22)]
    seq = [obs(i, happy=0.9) for i in range(20)] + burst + [obs(i, happy=0.9) for i in range(22, 40)]
    # When it is smoothed
    labels = labels_over_time(cfg, seq)
    # Then the burst did not become the label (it did not last min_dwell_s)
    assert set(labels) == {"happy"}, labels


def test_the_ema_does_not_depend_on_the_frame_rate() -> None:
    # Given the same 2 s change from happy to sad, sampled at 5 and at 30 fps
    cfg = TracksConfig(window_s=1.0, update_interval_s=0)
    slow = [obs(i, 5, happy=0.8) for i in range(10)] + [obs(i, 5, sad=0.8) for i in range(10, 20)]
    fast = [obs(i, 30, happy=0.8) for i in range(60)] + [obs(i, 30, sad=0.8) for i in range(60, 120)]
    # When each is smoothed
    slow_state, _ = run(cfg, slow)
    fast_state, _ = run(cfg, fast)
    # Then the smoothed sad score at the end is about the same
    sad = EMOTIONS.index("sad")
    assert abs(slow_state.scores[sad] - fast_state.scores[sad]) < 0.05, (slow_state.scores[sad], fast_state.scores[sad])


def test_periodic_updates_come_at_the_configured_media_interval() -> None:
    # Given a steady happy face for 10 s at 10 fps and a 2 s update interval
    cfg = TracksConfig(update_interval_s=2.0)
    _, events = run(cfg, [obs(i, happy=0.8) for i in range(101)])
    # Then there is one new event and one interval update every 2 s
    assert [e.type for e in events] == ["new"] + ["update"] * 5, [e.type for e in events]
    assert [e.after["last_s"] for e in events[1:]] == [2.0, 4.0, 6.0, 8.0, 10.0]
    assert all(e.reason == "interval" for e in events[1:])


def test_events_are_numbered_and_carry_the_previous_state_as_before() -> None:
    cfg = TracksConfig(update_interval_s=1.0)
    _, events = run(cfg, [obs(i, happy=0.8) for i in range(21)])
    assert [e.id for e in events] == ["s1:7:1", "s1:7:2", "s1:7:3"], "ids are <session>:<track>:<n>"
    assert events[0].before is None, "a new track has no state before"
    assert events[1].before == events[0].after and events[2].before == events[1].after, "before is the state of the previous event"
    assert events[2].after["faces"] == 21 and events[2].after["frame_seq"] == 20


def test_the_end_event_carries_the_dominant_emotion_and_duration() -> None:
    smoother = Smoother(TracksConfig())
    state, _ = run(TracksConfig(), [obs(i, happy=0.8) for i in range(31)])
    end = smoother.end(state, "timeout", "happy", {"happy": 1.0})
    assert end.type == "end" and end.reason == "timeout"
    assert end.after["ended"] is True and end.after["dominant"] == "happy" and end.after["duration_s"] == 3.0
    assert end.before is not None and end.before["label"] == "happy"


@pytest.mark.parametrize("method", ["ema", "vote"])
def test_state_survives_a_json_round_trip_and_continues_identically(method: str) -> None:
    # Given a track smoothed half way, then stored as JSON (as in Redis) and loaded again
    cfg = TracksConfig(smoothing=method, update_interval_s=1.0)
    seq = [obs(i, happy=0.7) for i in range(25)] + [obs(i, angry=0.7) for i in range(25, 50)]
    smoother = Smoother(cfg)
    straight, _ = smoother.start("cam1", "s1", 1, seq[0])
    resumed = TrackState.from_json(straight.to_json())
    events_straight: list[Any] = []
    events_resumed: list[Any] = []
    # When both continue with the same faces
    for o in seq[1:]:
        events_straight += smoother.apply(straight, o)
        events_resumed += smoother.apply(resumed, o)
        resumed = TrackState.from_json(resumed.to_json())
    # Then they produce the same events and the same final state
    assert events_resumed == events_straight, "a state restored from JSON must behave exactly like the original"
    assert resumed == straight
