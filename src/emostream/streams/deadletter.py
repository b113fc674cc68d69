"""What a dead letter keeps: the original entry (bounded), where it came from and why it failed.

The dead-letter stream has no expiry and holds up to ``DEADLETTER_MAXLEN``
entries, so what one letter keeps is bounded: each original field is cut to
``DEADLETTER_PAYLOAD_BYTES`` and its full size recorded beside it
(``orig:<name>`` and ``orig:<name>_bytes``). A flood of 10 MB entries then
costs at most a few hundred MB of Redis instead of ~100 GB; what is kept is
still enough to see what the entry was. Face pixels are dropped (only their
size is kept) unless a user asks for them (``classifier.deadletter_pixels``).
"""

from __future__ import annotations

from collections.abc import Callable

from emostream.streams.keys import DEADLETTER_PAYLOAD_BYTES
from emostream.streams.wire import Fields

# A crop kept on request (classifier.deadletter_pixels) is kept whole up to this size (a 512x512 colour face).
PIXELS_BYTES = 512 * 512 * 3
# A dead letter's own fields, after the original ones.
LETTER_FIELDS = ("stream", "id", "reason", "consumer", "at")


def dead_letter_fields(
    stream: str,
    entry_id: bytes,
    fields: Fields,
    reason: str,
    consumer: str,
    now: float,
    keep_pixels: bool = False,
    limit: int = DEADLETTER_PAYLOAD_BYTES,
) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for key, value in list(fields.items())[:32]:  # a hostile entry may have any number of fields
        name = key[:64].decode(errors="replace")
        if name == "crop" and not keep_pixels:
            out["orig:crop_bytes"] = str(len(value))
            continue
        cut = max(limit, PIXELS_BYTES) if name == "crop" else limit  # pixels asked for are useless in part
        out[f"orig:{name}"] = value[:cut]
        if len(value) > cut:
            out[f"orig:{name}_bytes"] = str(len(value))
    if len(fields) > 32:
        out["orig:fields"] = str(len(fields))
    out.update(stream=stream, id=entry_id, reason=reason[:500], consumer=consumer, at=f"{now:.3f}")
    return out


DeadLetterHook = Callable[[str, str], None]
"""Called as ``hook(kind, reason)`` after each dead letter, for a worker's metrics and logs."""
