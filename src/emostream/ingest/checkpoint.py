"""Where each source's session stands, kept in Redis so a killed ingest resumes it exactly.

Details at :func:`snapshot`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

import redis

from emostream.config import TrackerConfig
from emostream.ingest.session import IngestSession

VERSION = 1
COUNTERS = ("seq", "analysed", "dropped", "dropped_age", "skipped", "failed", "faces", "faces_skipped", "faces_unconfirmed")


def url_fingerprint(url: str) -> str:
    """Identifies the source without storing its URL (which may hold a password)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def snapshot(session: IngestSession, frame_index: int, fingerprint: str, live: bool, now: float | None = None) -> str:
    """The checkpoint after ``frame_index``; ``fingerprint`` is :func:`url_fingerprint` of the URL, computed once per source.

    After every analysed frame, ingest writes the session's counters, tracker
    state and media clock together with that frame's face jobs in one MULTI/EXEC:
    either both are in Redis or neither. A restarted ingest finds the checkpoint
    and continues the same session:

    - a **file** is decoded again from the start, frames up to the checkpoint are
      skipped without detection, and analysis resumes at the next frame with the
      same sequence numbers and track ids, so every face is published once and its
      event id is the one it would have had;
    - a **live** source continues its session if the checkpoint is younger than
      ``ingest.session_timeout_s`` (a short outage), else that session is ended
      with reason ``timeout`` and a new one starts.

    The checkpoint goes with the session's end message (also one MULTI): it is
    deleted, except that a file played to its end leaves an :func:`ended` mark
    in its place, so that a restart does not play it again.
    """
    first_pts, last_offset = session.media_clock()
    body: dict[str, Any] = {
        "v": VERSION,
        "session": session.id,
        "started_ts": session.started_ts,
        "frame_index": frame_index,
        "url": fingerprint,
        "live": live,
        "first_pts": first_pts,
        "last_offset": last_offset,
        "tracker": session.tracker.state(),
        "updated_ts": time.time() if now is None else now,
    }
    body.update({name: getattr(session, name) for name in COUNTERS})
    return json.dumps(body, separators=(",", ":"))


def load(client: redis.Redis, key: str) -> dict[str, Any] | None:
    raw = client.get(key)
    if raw is None:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) and body.get("v") == VERSION else None


def restore(body: dict[str, Any], source: str, tracker_cfg: TrackerConfig, nominal_interval: float) -> IngestSession:
    """The session as it was after the checkpointed frame."""
    session = IngestSession(source, tracker_cfg, nominal_interval, id=body["session"], started_ts=float(body["started_ts"]))
    for name in COUNTERS:
        setattr(session, name, int(body.get(name, 0)))  # a counter added later starts at 0
    session.resume_clock(body["first_pts"], body["last_offset"])
    session.tracker.restore(body["tracker"])
    return session


def file_identity(url: str) -> dict[str, int] | None:
    """What tells one version of a local file from the next: its size and modification time (None: not a local file).

    A file rewritten, appended to or touched gets a new identity, so an
    :func:`ended` mark stops applying to it; the content is not hashed (a
    clip of hours would be read once more at every end and start).
    """
    try:
        st = os.stat(url)
    except (OSError, ValueError):
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def ended(session_id: str, fingerprint: str, identity: dict[str, int] | None, now: float) -> str:
    """The mark a file source's checkpoint becomes at its end: played to the end in ``session_id``, as of ``identity``.

    Written with the end message, in its MULTI (one Redis) or right after it
    (a cluster; a crash between the two resumes the ended session, whose end
    is then repeated, as before). It has no expiry: a restart of the same
    ingest finds it and does not play that version of the file again
    (docs/decisions.md, issue 25).
    """
    body = {"v": VERSION, "ended": True, "session": session_id, "url": fingerprint, "live": False, "file": identity, "updated_ts": now}
    return json.dumps(body, separators=(",", ":"))


def is_ended(body: dict[str, Any]) -> bool:
    return bool(body.get("ended"))
