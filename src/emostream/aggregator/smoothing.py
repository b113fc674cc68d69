"""Per-track smoothing with hysteresis, as pure functions over a JSON-serialisable state.

Nothing here talks to Redis or reads a clock: :class:`Smoother` turns a track's
state plus one observation (a classified face) into the next state and the
track events to publish. The state is stored in Redis between observations
(see ``tracks``), so smoothing survives an aggregator restart, and because
every step is a deterministic function of the state and the observation, a
replay produces the same events with the same ids.

Details at :class:`Smoother`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from emostream.config import TracksConfig
from emostream.infra.emotions import EMOTIONS
from emostream.streams.events import EmotionEvent
from emostream.streams.records import TrackEvent

# A face with no time since the previous one (same offset) still moves the EMA a little.
MIN_DT_S = 1e-3


@dataclass(frozen=True)
class Observation:
    """What smoothing needs from one emotion event."""

    seq: int
    offset: float  # media seconds since the session started
    interval: float  # media seconds this frame stands for
    probabilities: tuple[float, ...]  # in EMOTIONS order
    box: dict[str, int]
    wall_ts: float  # when the aggregator applied it (for the idle rule only; never published)

    @classmethod
    def from_event(cls, event: EmotionEvent, wall_ts: float) -> Observation:
        # The models' field dicts, not model_dump() or dict(model) (11 µs for the box alone):
        # this runs once per face, at tens of thousands a second.
        probs = event.emotion.probabilities.__dict__
        vector = tuple([float(probs[e]) for e in EMOTIONS])
        if not any(vector):  # all probabilities zero: all mass on its label
            vector = tuple(1.0 if e == event.label else 0.0 for e in EMOTIONS)
        frame, box = event.frame, event.face.box
        return cls(
            seq=frame.seq,
            offset=frame.offset_s,
            interval=frame.interval_s,
            probabilities=vector,
            box={**box.__dict__, **(box.model_extra or {})},
            wall_ts=wall_ts,
        )


@dataclass
class TrackState:
    """Everything needed to continue smoothing a track; stored as JSON in Redis."""

    source: str
    session: str
    track: int
    first_s: float
    last_s: float
    last_seq: int
    faces: int
    scores: list[float]  # smoothed score of each emotion, EMOTIONS order
    label: str  # the published (hysteresis-filtered) label
    label_since_s: float
    label_changes: int = 0
    candidate: str | None = None
    candidate_since_s: float = 0.0
    raw_label: str = ""
    raw_confidence: float = 0.0
    box: dict[str, int] = field(default_factory=dict)
    last_emit_s: float = 0.0
    emitted: int = 0  # track events published so far; numbers the next one
    seen_ts: float = 0.0
    window: list[tuple[float, int, float]] = field(default_factory=list)  # vote: (offset, emotion index, weight)
    published: dict[str, Any] | None = None  # the public state in the last track event

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> TrackState:
        data = json.loads(raw)
        data["window"] = [tuple(item) for item in data.get("window", [])]
        return cls(**data)

    def public(self) -> dict[str, Any]:
        """The state as subscribers see it in ``before`` and ``after``."""
        index = EMOTIONS.index(self.label)
        return {
            "label": self.label,
            "score": round(self.scores[index], 4),
            "scores": {e: round(s, 4) for e, s in zip(EMOTIONS, self.scores, strict=True)},
            "raw": {"label": self.raw_label, "confidence": round(self.raw_confidence, 4)},
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "duration_s": round(self.last_s - self.first_s, 3),
            "faces": self.faces,
            "frame_seq": self.last_seq,
            "box": self.box,
            "label_since_s": round(self.label_since_s, 3),
            "label_changes": self.label_changes,
        }


class Smoother:
    """Two smoothers, chosen by ``tracks.smoothing``:

    - ``ema``: an exponential moving average of the seven probabilities with a time
      constant of ``window_s`` media seconds. The weight of a new face is
      ``1 - exp(-dt / window_s)`` where ``dt`` is the media time since the track's
      previous face, so the result does not depend on the frame rate and a face
      after a long gap counts for more.
    - ``vote``: the time-weighted share of each raw label over the last
      ``window_s`` media seconds. Cheaper to explain, coarser.

    On top of either, hysteresis keeps the label from flickering: a new label
    replaces the current one only when its smoothed score leads the current
    label's by at least ``hysteresis`` and keeps that lead for ``min_dwell_s``.
    """

    def __init__(self, cfg: TracksConfig) -> None:
        self.cfg = cfg

    # --- the lifecycle --------------------------------------------------------

    def start(self, source: str, session: str, track: int, obs: Observation) -> tuple[TrackState, TrackEvent]:
        """A track's first face: its state and the ``new`` event."""
        best = _argmax(obs.probabilities)
        state = TrackState(
            source=source,
            session=session,
            track=track,
            first_s=obs.offset,
            last_s=obs.offset,
            last_seq=obs.seq,
            faces=1,
            scores=list(obs.probabilities),
            label=EMOTIONS[best],
            label_since_s=obs.offset,
            raw_label=EMOTIONS[best],
            raw_confidence=obs.probabilities[best],
            box=obs.box,
            seen_ts=obs.wall_ts,
        )
        if self.cfg.smoothing == "vote":
            state.window = [(obs.offset, best, max(obs.interval, MIN_DT_S))]
            state.scores = self._vote_scores(state.window)
        return state, self._emit(state, "new", "started")

    def apply(self, state: TrackState, obs: Observation) -> list[TrackEvent]:
        """Fold one later face into ``state`` (in place); returns the events it causes.

        The caller guarantees ``obs.seq > state.last_seq``: older faces (late or
        redelivered) are not smoothed, which is what makes applying a batch twice harmless.
        """
        best = _argmax(obs.probabilities)
        if self.cfg.smoothing == "ema":
            dt = max(obs.offset - state.last_s, MIN_DT_S)
            alpha = 1.0 - math.exp(-dt / self.cfg.window_s)
            state.scores = [alpha * p + (1.0 - alpha) * s for p, s in zip(obs.probabilities, state.scores, strict=True)]
        else:
            state.window.append((obs.offset, best, max(obs.interval, MIN_DT_S)))
            horizon = obs.offset - self.cfg.window_s
            state.window = [item for item in state.window if item[0] > horizon]
            state.scores = self._vote_scores(state.window)
        state.last_s = max(state.last_s, obs.offset)
        state.last_seq = obs.seq
        state.faces += 1
        state.raw_label, state.raw_confidence = EMOTIONS[best], obs.probabilities[best]
        state.box = obs.box
        state.seen_ts = obs.wall_ts
        if self._hysteresis(state, obs.offset):
            return [self._emit(state, "update", "label_changed")]
        interval = self.cfg.update_interval_s
        if interval > 0 and obs.offset - state.last_emit_s >= interval:
            return [self._emit(state, "update", "interval")]
        return []

    def end(self, state: TrackState, reason: str, dominant: str | None, shares: dict[str, float]) -> TrackEvent:
        """The ``end`` event: the final state plus the dominant emotion over the track's life."""
        event = self._emit(state, "end", reason)
        event.after.update(ended=True, dominant=dominant, shares=shares)
        return event

    # --- helpers ---------------------------------------------------------------

    def _hysteresis(self, state: TrackState, offset: float) -> bool:
        """Switch the label only on a clear and lasting lead; True when it switched."""
        top = EMOTIONS[_argmax(tuple(state.scores))]
        current = state.scores[EMOTIONS.index(state.label)]
        lead = state.scores[EMOTIONS.index(top)] - current
        if top == state.label or lead < self.cfg.hysteresis:
            state.candidate = None
            return False
        if state.candidate != top:
            state.candidate, state.candidate_since_s = top, offset
        if offset - state.candidate_since_s < self.cfg.min_dwell_s:
            return False
        state.label, state.label_since_s, state.candidate = top, offset, None
        state.label_changes += 1
        return True

    @staticmethod
    def _vote_scores(window: list[tuple[float, int, float]]) -> list[float]:
        weights = [0.0] * len(EMOTIONS)
        for _, index, weight in window:
            weights[index] += weight
        total = sum(weights)
        return [w / total if total > 0 else 0.0 for w in weights]

    @staticmethod
    def _emit(state: TrackState, kind: str, reason: str) -> TrackEvent:
        after = state.public()
        state.emitted += 1
        event = TrackEvent(
            type=kind,
            reason=reason,
            id=f"{state.session}:{state.track}:{state.emitted}",
            source=state.source,
            session=state.session,
            track_id=state.track,
            before=state.published,
            after=after,
        )
        state.published = dict(after)
        state.last_emit_s = state.last_s
        return event


def _argmax(values: tuple[float, ...]) -> int:
    """Index of the largest value; ties go to the earlier emotion (``max`` keeps the first), so the result is deterministic."""
    return max(range(len(values)), key=values.__getitem__)
