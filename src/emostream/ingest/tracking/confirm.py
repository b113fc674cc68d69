"""When a tentative track may be published: evidence from the detector, then a face check, tried a few times at most.

Evidence is ByteTrack's activation (``confirm_hits`` consecutive hits, or one
hit scoring ``confirm_score``). Evidence alone cannot stop a face-like
texture: it is found frame after frame, some of it at high scores. So where
ingest gives each detection a check (``Observation.check``: a second look at
the candidate, ``detector/check.py``), a track with the evidence is published
only once its face passes it. The check costs a model inference, so it runs
only for tentative tracks, at the first hit with the evidence and, after a
failure, again 1, 2, 4 ... hits later (a face that was blurred or turned
away may show itself), ``check_tries`` times in all; a track that failed them
all stays tentative for the rest of its life, counted, never published.
"""

from __future__ import annotations

from emostream.ingest.tracking.track import Observation, Tally, Track, TrackerParams


def due(t: Track, obs: Observation, params: TrackerParams, tally: Tally) -> bool:
    """Whether tentative ``t``, having just taken ``obs`` (its ``hits`` counted), is confirmed now."""
    if t.hits < params.confirm_hits and obs.score < params.confirm_score:
        return False
    if obs.check is None:
        return True
    # A low-score box's stricter check (detector.check_low) keeps a count of its own: its failures never hold back the
    # check of a confident box that finds the same track later.
    low = not obs.confident
    failed, next_try = (t.low_checks, t.next_low) if low else (t.checks, t.next_check)
    if failed >= params.check_tries or t.hits < next_try:
        return False
    tally.checked += 1
    if obs.check():
        return True
    tally.rejected += 1
    failed += 1
    next_try = t.hits + 2 ** (failed - 1)
    if low:
        t.low_checks, t.next_low = failed, next_try
    else:
        t.checks, t.next_check = failed, next_try
    return False
