"""Moved to :mod:`emostream.streams` (``facejob``, ``lifecycle``, ``events``, ``records``, ``deadletter``, ``wire``).

This alias keeps old imports working while branches merge; import from the
owning module instead. It goes once nothing imports it.
"""

from emostream.streams.deadletter import dead_letter_fields
from emostream.streams.events import EmotionEvent, build_event, decode_event, encode_event
from emostream.streams.facejob import FaceJob
from emostream.streams.lifecycle import FacesDropped, LifecycleMessage, SessionEnd, SessionStart, decode_lifecycle, encode_lifecycle
from emostream.streams.records import TRACK_TYPES, SessionSummary, TrackEvent, decode_summary, decode_track, encode_summary, encode_track
from emostream.streams.wire import Fields, MessageError, utc_iso

__all__ = [
    "TRACK_TYPES", "EmotionEvent", "FaceJob", "FacesDropped", "Fields", "LifecycleMessage", "MessageError", "SessionEnd", "SessionStart",
    "SessionSummary", "TrackEvent", "build_event", "dead_letter_fields", "decode_event", "decode_lifecycle", "decode_summary",
    "decode_track", "encode_event", "encode_lifecycle", "encode_summary", "encode_track", "utc_iso",
]
