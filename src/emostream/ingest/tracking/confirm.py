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
    if t.checks >= params.check_tries or t.hits < t.next_check:
        return False
    tally.checked += 1
    if obs.check():
        return True
    tally.rejected += 1
    t.checks += 1
    t.next_check = t.hits + 2 ** (t.checks - 1)
    return False
