"""Track events against a real Redis: lifecycle, restarts, claims, out-of-order and late faces."""

from __future__ import annotations

import time
from typing import Any

import redis

from emostream.streams.events import EmotionEvent
from emostream.streams.keys import AGGREGATOR_GROUP, SessionPart
from tests.aggregator.support import (
    comparable,
    end,
    event,
    publish,
    run_until_summary,
    start,
    step,
    stepped,
    stored_summary,
    track_events,
)
from tests.helpers import wait_for

FAST = {"reorder_ms": 0}


def two_faces(session: str) -> list[EmotionEvent]:
    """Face 1: happy for 2.5 s then sad for 2.5 s. Face 2: happy for 2 s, then gone."""
    out = []
    for seq in range(50):
        out.append(event(session, seq, 1, "happy" if seq < 25 else "sad"))
        if seq < 20:
            out.append(event(session, seq, 2, "happy", 0.9))
    return out


def by_track(events: list[dict[str, Any]]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for e in events:
        out.setdefault(e["track_id"], []).append((e["type"], e["reason"]))
    return out


def test_each_track_is_new_once_updates_on_a_label_change_and_ends_once(make_config: Any, rclient: redis.Redis) -> None:
    # Given a session with two faces, one of which changes from happy to sad and one that leaves early
    worker = stepped(make_config(aggregator=FAST))
    keys = worker.keys
    start(rclient, keys, "s-life")
    events = two_faces("s-life")
    publish(rclient, keys, events)
    end(rclient, keys, "s-life", faces=len(events), frames=50)
    # When the aggregator runs until the session is summarised
    summary = run_until_summary(worker, rclient, "s-life")
    # Then face 1 has new, one label change and an end at the session end; face 2 timed out
    tracks = track_events(rclient, keys)
    assert by_track(tracks) == {
        1: [("new", "started"), ("update", "label_changed"), ("end", "session_end")],
        2: [("new", "started"), ("end", "timeout")],
    }, by_track(tracks)
    change = next(e for e in tracks if e["reason"] == "label_changed")
    assert (change["before"]["label"], change["after"]["label"]) == ("happy", "sad")
    ends = {e["track_id"]: e for e in tracks if e["type"] == "end"}
    assert ends[2]["after"]["last_s"] == 1.9 and ends[2]["after"]["duration_s"] == 1.9
    # ... and each end's dominant emotion is the summary's, counted over the whole track
    for track in summary["track_summaries"]:
        assert ends[track["track_id"]]["after"]["dominant"] == track["dominant"], (track, ends[track["track_id"]]["after"])
    assert summary["track_summaries"][0]["label_changes"] == 1, "the summary records face 1's one label change"
    assert worker.registry.get_sample_value("emostream_aggregator_track_events_total", {"source": "cam1", "type": "end"}) == 2
    assert [f[b"type"] for _, f in rclient.xrange(keys.tracks("cam1"))] == [e["type"].encode() for e in tracks], "type field mirrors data"


def test_a_restart_mid_session_gives_the_same_track_events_as_an_uninterrupted_run(make_config: Any, rclient: redis.Redis) -> None:
    # Given the same session processed once straight through (the reference) ...
    reference = stepped(make_config(aggregator=FAST))
    start(rclient, reference.keys, "s-ref")
    publish(rclient, reference.keys, two_faces("s-ref"))
    end(rclient, reference.keys, "s-ref", faces=70, frames=50)
    run_until_summary(reference, rclient, "s-ref")
    expected = comparable(track_events(rclient, reference.keys))

    # ... and once by an aggregator that stops after the first half, then a fresh one
    from emostream.config import parse_config

    data = reference.config.model_dump(mode="json")
    data["redis"]["prefix"] += "b"
    config = parse_config(data)
    first = stepped(config, consumer="agg")
    keys = first.keys
    start(rclient, keys, "s-ref")
    events = two_faces("s-ref")
    publish(rclient, keys, events[:35])
    step(first, 3)
    assert len(track_events(rclient, keys)) >= 2, "the first aggregator should have published the new events"
    del first
    publish(rclient, keys, events[35:])
    end(rclient, keys, "s-ref", faces=70, frames=50)
    second = stepped(config, consumer="agg")
    second.resume()
    run_until_summary(second, rclient, "s-ref")
    # Then the track events are identical, ids included
    assert comparable(track_events(rclient, keys)) == expected, "smoothing state must carry over a restart unchanged"


def test_a_crash_after_applying_but_before_publishing_and_acking_loses_and_repeats_nothing(make_config: Any, rclient: redis.Redis) -> None:
    # Given an aggregator that read and counted events, wrote their tracks' state (and outbox), then died
    config = make_config(aggregator=FAST)
    first = stepped(config, consumer="agg")
    keys = first.keys
    start(rclient, keys, "s-crash")
    events = two_faces("s-crash")
    publish(rclient, keys, events)
    end(rclient, keys, "s-crash", faces=len(events), frames=50)
    first.resume()
    lifecycle: Any = rclient.xreadgroup(AGGREGATOR_GROUP, "agg", {keys.lifecycle: ">"})
    first.intake.record_lifecycle(keys.lifecycle, lifecycle[0][1])  # events count only for sessions that started
    reply: Any = rclient.xreadgroup(AGGREGATOR_GROUP, "agg", {keys.events("cam1"): ">"}, count=40)
    counted = first.intake.sort(keys.events("cam1"), reply[0][1])
    first.counter.count(keys.events("cam1"), "cam1", counted, first.leases.owned)
    first.tracks.apply([e for _, e in counted], time.time())
    assert track_events(rclient, keys) == [], "nothing was published before the crash"
    # When a new aggregator with the same name starts
    second = stepped(config, consumer="agg")
    second.resume()
    assert [e["type"] for e in track_events(rclient, keys)] == ["new", "new"], "the outbox of the crashed one is published on start"
    summary = run_until_summary(second, rclient, "s-crash")
    # Then every face was counted once and every track event was published exactly once
    assert summary["faces"] == len(events), f"counted {summary['faces']} of {len(events)}"
    ids = [e["id"] for e in track_events(rclient, keys)]
    assert len(ids) == len(set(ids)) == 5, f"track events: {ids}"
    assert rclient.xpending(keys.events("cam1"), AGGREGATOR_GROUP)["pending"] == 0, "everything is acknowledged"


def test_entries_pending_at_a_crashed_aggregator_with_another_name_are_claimed(make_config: Any, rclient: redis.Redis) -> None:
    # Given an aggregator "agg-a" that read every event and died without acknowledging any
    config = make_config(aggregator={"reorder_ms": 0, "claim_idle_ms": 200})
    survivor = stepped(config, consumer="agg-b")
    keys = survivor.keys
    start(rclient, keys, "s-claim")
    events = two_faces("s-claim")
    publish(rclient, keys, events)
    end(rclient, keys, "s-claim", faces=len(events), frames=50)
    survivor.resume()
    rclient.xreadgroup(AGGREGATOR_GROUP, "agg-a", {keys.events("cam1"): ">", keys.lifecycle: ">"}, count=1000)
    # When another aggregator, "agg-b", runs for longer than claim_idle_ms
    summary = run_until_summary(survivor, rclient, "s-claim")
    # Then it claimed the entries and the summary counts every face once
    assert summary["faces"] == len(events), f"counted {summary['faces']} of {len(events)}"
    assert (survivor.registry.get_sample_value("emostream_aggregator_claimed_total") or 0) >= len(events) + 2
    assert len(track_events(rclient, keys)) == 5
    assert rclient.xpending(keys.events("cam1"), AGGREGATOR_GROUP)["pending"] == 0


def test_out_of_order_events_within_the_hold_are_smoothed_in_frame_order(make_config: Any, rclient: redis.Redis) -> None:
    # Given the track events of a session whose events were read in order ...
    ordered = stepped(make_config(aggregator={"reorder_ms": 0}))
    start(rclient, ordered.keys, "s-ooo")
    publish(rclient, ordered.keys, two_faces("s-ooo"))
    end(rclient, ordered.keys, "s-ooo", faces=70, frames=50)
    run_until_summary(ordered, rclient, "s-ooo")
    expected = comparable(track_events(rclient, ordered.keys))
    # ... and an aggregator with a 2 s hold (on a clock we control) that reads the second half of
    # the events before the first half, in separate reads, as with a slow classifier replica
    from emostream.config import parse_config

    now = [1_000_000.0]
    data = ordered.config.model_dump(mode="json")
    data["redis"]["prefix"] += "s"
    data["aggregator"].update(reorder_ms=2000, claim_idle_ms=60_000)
    worker = stepped(parse_config(data), clock=lambda: now[0])
    keys = worker.keys
    events = two_faces("s-ooo")
    start(rclient, keys, "s-ooo")
    publish(rclient, keys, events[35:])
    step(worker)
    publish(rclient, keys, events[:35])
    step(worker)
    assert track_events(rclient, keys) == [], "nothing is applied before the hold is over"
    # When the hold is over
    now[0] += 2.5
    end(rclient, keys, "s-ooo", faces=70, frames=50)
    run_until_summary(worker, rclient, "s-ooo")
    # Then the track events are exactly those of the ordered run
    assert comparable(track_events(rclient, keys)) == expected
    assert not worker.registry.get_sample_value("emostream_aggregator_unsmoothed_events_total", {"source": "cam1"})


def test_a_late_face_is_counted_but_not_smoothed(make_config: Any, rclient: redis.Redis) -> None:
    # Given a track already smoothed up to frame 30
    worker = stepped(make_config(aggregator=FAST))
    keys = worker.keys
    start(rclient, keys, "s-late")
    publish(rclient, keys, [event("s-late", seq, 1, "happy") for seq in range(31) if seq != 12])
    step(worker, 2)
    state_before = rclient.hget(keys.agg("s-late", SessionPart.TRACK_STATE), "1")
    # When frame 12 arrives after everything else (a slow replica)
    publish(rclient, keys, [event("s-late", 12, 1, "angry", 0.99)])
    step(worker, 2)
    # Then the track state is unchanged, the face is counted in the session, and the metric says so
    assert rclient.hget(keys.agg("s-late", SessionPart.TRACK_STATE), "1") == state_before, "a late face must not move the smoothing"
    assert worker.store.state("s-late")["events"] == "31"
    assert worker.registry.get_sample_value("emostream_aggregator_unsmoothed_events_total", {"source": "cam1"}) == 1


def test_a_face_of_an_ended_track_does_not_start_it_again(make_config: Any, rclient: redis.Redis) -> None:
    # Given face 2 that timed out while face 1 went on
    worker = stepped(make_config(aggregator=FAST))
    keys = worker.keys
    start(rclient, keys, "s-ended")
    publish(rclient, keys, two_faces("s-ended"))
    step(worker, 2)
    assert [e["type"] for e in track_events(rclient, keys) if e["track_id"] == 2] == ["new", "end"]
    # When a straggling face of track 2 arrives
    publish(rclient, keys, [event("s-ended", 49, 2, "angry")])
    step(worker, 2)
    # Then track 2 gets no new event
    assert [e["type"] for e in track_events(rclient, keys) if e["track_id"] == 2] == ["new", "end"]


def test_a_track_without_faces_for_idle_end_s_of_wall_time_ends(make_config: Any, rclient: redis.Redis) -> None:
    # Given a live-like session whose only face stopped arriving, and a clock we control
    now = [1_000_000.0]
    worker = stepped(make_config(aggregator={"reorder_ms": 0}, tracks={"idle_end_s": 5}), clock=lambda: now[0])
    keys = worker.keys
    start(rclient, keys, "s-idle")
    publish(rclient, keys, [event("s-idle", seq, 1, "neutral") for seq in range(10)])
    step(worker, 2)
    assert [e["type"] for e in track_events(rclient, keys)] == ["new"]
    # When 4 s pass, then 6 s
    now[0] += 4
    step(worker, 2)
    assert [e["type"] for e in track_events(rclient, keys)] == ["new"], "not idle long enough yet"
    now[0] += 2
    step(worker, 2)
    # Then the track ended as idle, and the active-tracks gauge says none is left
    ends = [e for e in track_events(rclient, keys) if e["type"] == "end"]
    assert [e["reason"] for e in ends] == ["idle"]
    assert worker.registry.get_sample_value("emostream_aggregator_tracks_active", {"source": "cam1"}) == 0


def test_tracks_are_published_before_the_summary_and_the_summary_waits_for_nothing_else(make_config: Any, rclient: redis.Redis) -> None:
    worker = stepped(make_config())  # the default reorder hold
    keys = worker.keys
    start(rclient, keys, "s-order")
    publish(rclient, keys, [event("s-order", seq, 1, "surprise") for seq in range(5)])
    end(rclient, keys, "s-order", faces=5, frames=5)
    wait_for(lambda: (step(worker), stored_summary(rclient, keys, "s-order"))[1], 10, "no summary")
    assert [e["type"] for e in track_events(rclient, keys)] == ["new", "end"]
