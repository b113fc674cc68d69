"""Session summaries (JSON) and their timeline charts (PNG), built from the stored counts."""

from __future__ import annotations

import io
import json
from typing import Any

from emostream.infra.emotions import EMOTIONS
from emostream.streams.wire import utc_iso

WEIGHT_DIGITS = 6  # face-time in seconds, compared at microsecond precision
CHART_BARS_MAX = 600  # a chart of a longer session merges neighbouring buckets: its cost stays bounded
EMOTION_COLOURS = {
    "angry": "#d62728",
    "disgust": "#8c564b",
    "fear": "#9467bd",
    "happy": "#f5b800",
    "sad": "#1f77b4",
    "surprise": "#17becf",
    "neutral": "#7f7f7f",
}


def _shares(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {e: round(weights.get(e, 0.0) / total, 4) if total > 0 else 0.0 for e in EMOTIONS}


def _grouped(values: dict[str, str]) -> dict[int, dict[str, float]]:
    """``{"<n>:<emotion>": w}`` as ``{n: {emotion: w}}``."""
    out: dict[int, dict[str, float]] = {}
    for key, value in values.items():
        index, _, emotion = key.partition(":")
        if emotion in EMOTIONS:
            out.setdefault(int(index), {})[emotion] = float(value)
    return out


def track_summaries(values: dict[str, str], ended: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Per-track totals from the counted ``tracks`` hash, plus smoothing facts of ended tracks.

    The dominant emotion is the one with the most face-time over the track's life,
    counted exactly (every event once), so it is the same in the summary and in the
    track's ``end`` event.
    """
    tracks: dict[int, dict[str, Any]] = {}
    for key, value in values.items():
        track, _, field = key.partition(":")
        entry = tracks.setdefault(int(track), {"weights": {}})
        if field in EMOTIONS:
            # Rounded: face-time is summed per batch, so equal times may differ in the last bits, and a tie must stay a tie.
            entry["weights"][field] = round(float(value), WEIGHT_DIGITS)
        else:
            entry[field] = float(value)
    out = []
    for track_id, entry in sorted(tracks.items()):
        weights: dict[str, float] = entry["weights"]
        dominant = max(EMOTIONS, key=lambda e: weights.get(e, 0.0)) if weights else None
        first, last = entry.get("first", 0.0), entry.get("last", 0.0)
        out.append(
            {
                "track_id": track_id,
                "first_s": round(first, 3),
                "last_s": round(last, 3),
                "duration_s": round(last - first, 3),
                "faces": int(entry.get("n", 0)),
                "dominant": dominant,
                "share": _shares(weights),
            }
        )
        final = json.loads((ended or {}).get(str(track_id), "null"))
        if final is not None:
            out[-1]["label_changes"] = int(final.get("label_changes", 0))
    return out


def build_summary(session: str, snapshot: dict[str, Any], chart_bucket_s: int) -> dict[str, Any]:
    """The public summary of a session (documented in docs/events.md)."""
    state, emotions = snapshot["state"], snapshot["emotions"]
    end = json.loads(state["end"]) if state.get("end") else {}
    started = float(state.get("started_ts") or end.get("started_ts") or 0.0)
    ended = float(end.get("ended_ts") or started)
    counts = {e: int(float(emotions.get(f"count:{e}", 0))) for e in EMOTIONS}
    time_weights = {e: float(emotions.get(f"time:{e}", 0.0)) for e in EMOTIONS}
    minutes = _grouped(snapshot["minutes"])
    buckets = _grouped(snapshot["buckets"])
    tracks = track_summaries(snapshot["tracks"], snapshot.get("track_ended"))
    return {
        "source": state.get("source") or end.get("source"),
        "session": session,
        "started_at": utc_iso(started),
        "ended_at": utc_iso(ended),
        "duration_s": round(max(0.0, ended - started), 3),
        "media_duration_s": round(float(end.get("media_s", 0.0)), 3),
        "end_reason": end.get("reason", "unknown"),
        "frames": {
            "analysed": int(end.get("frames_analysed", 0)),
            "dropped": int(end.get("frames_dropped", 0)),
            "skipped": int(end.get("frames_skipped", 0)),
            "failed": int(end.get("frames_failed", 0)),
            "dropped_for_age": int(end.get("frames_dropped_age", 0)),
        },
        "faces": int(state.get("events", 0)),
        "faces_expected": int(end.get("faces", 0)),
        "faces_dropped": int(state.get("dropped", 0)),
        "faces_skipped": int(end.get("faces_skipped", 0)),
        "tracks": len(tracks),
        "emotions": {"counts": counts, "share": _shares(time_weights)},
        "timeline": [{"minute": m, "share": _shares(w)} for m, w in sorted(minutes.items())],
        "chart": {"bucket_s": chart_bucket_s, "buckets": [{"index": b, "seconds": w} for b, w in sorted(buckets.items())]},
        "track_summaries": tracks,
    }


def coarsened(rows: list[dict[str, Any]], bucket_s: int) -> tuple[list[dict[str, Any]], int]:
    """At most CHART_BARS_MAX bars: neighbouring buckets merged by a whole factor when the session spans more.

    Offsets reach ten years (``streams.numbers``): drawn one bar per bucket, such a
    session would cost minutes and gigabytes to render.
    """
    if not rows:
        return rows, bucket_s
    span = max(int(row["index"]) for row in rows) + 1
    factor = -(-span // CHART_BARS_MAX)
    if factor <= 1:
        return rows, bucket_s
    merged: dict[int, dict[str, float]] = {}
    for row in rows:
        into = merged.setdefault(int(row["index"]) // factor, {})
        for emotion, seconds in row["seconds"].items():
            into[emotion] = into.get(emotion, 0.0) + float(seconds)
    return [{"index": i, "seconds": w} for i, w in sorted(merged.items())], bucket_s * factor


def render_timeline_png(summary: dict[str, Any]) -> bytes:
    """Stacked shares of each emotion over the session, one bar per chart bucket.

    Uses matplotlib's object API with the Agg canvas, not pyplot: pyplot keeps
    global state and is not safe in the HTTP server's request threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, bucket_s = coarsened(summary["chart"]["buckets"], summary["chart"]["bucket_s"])
    fig = Figure(figsize=(9, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if rows:
        starts = [row["index"] * bucket_s for row in rows]
        bottoms = [0.0] * len(rows)
        for emotion in EMOTIONS:
            heights = [_shares(row["seconds"])[emotion] for row in rows]
            ax.bar(
                starts, heights, width=bucket_s, bottom=bottoms, align="edge", color=EMOTION_COLOURS[emotion], label=emotion, linewidth=0
            )
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        ax.set_xlim(0, max(starts) + bucket_s)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "no faces in this session", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0, 1)
    ax.set_xlabel("seconds since session start")
    ax.set_ylabel("share of faces")
    ax.set_title(f"{summary['source']} · {summary['session']}", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def frames_line(frames: dict[str, int]) -> str:
    """``frames analysed 180, dropped 0, failed 0``; skipped (live pacing) only where there were any."""
    skipped = f", skipped {frames['skipped']}" if frames.get("skipped") else ""
    return f"frames analysed {frames['analysed']}{skipped}, dropped {frames['dropped']}, failed {frames['failed']}"


def shares_text(shares: list[tuple[str, float]]) -> str:
    """``happy 56%, neutral 43%``: the emotions that round to at least 1%, or ``no faces``."""
    return ", ".join(f"{emotion} {share:.0%}" for emotion, share in shares if share >= 0.005) or "no faces"
