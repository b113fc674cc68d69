"""The rule for identifiers that cross Redis: source ids, session ids, event ids.

A source id becomes part of stream names (``<prefix>:events:<source>``), a
session id part of Redis keys (``<prefix>:agg:{<session>}:state``, a cluster
hash tag) and of file names (``<summary_dir>/<session>.json``). Anything that
can be written to a stream can reach these places, so an id is checked when a
message is decoded, not where it is used: letters, digits, ``_``, ``.`` and
``-`` only, which rules out ``/``, ``:``, braces, spaces and control
characters, and a bounded length. Ids made only of dots (``.``, ``..``) are
refused as well, since they mean something to a file system.

The trade-off: ids stay readable and safe in every place they go, at the cost
of refusing unicode camera names (use the URL or a label for those).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

ID_CHARS = "A-Za-z0-9_.-"
SOURCE_ID_MAX = 64
SESSION_ID_MAX = 128
EVENT_ID_MAX = 200

SOURCE_ID = re.compile(rf"^[{ID_CHARS}]{{1,{SOURCE_ID_MAX}}}$")
SESSION_ID = re.compile(rf"^[{ID_CHARS}]{{1,{SESSION_ID_MAX}}}$")
# <session>:<frame seq>:<track> (events) and <session>:<track>:<n> (track events)
EVENT_ID = re.compile(rf"^[A-Za-z0-9_.:-]{{1,{EVENT_ID_MAX}}}$")  # "-" last: not a range
ONLY_DOTS = re.compile(r"^\.+$")

SOURCE_ID_RULE = f"1-{SOURCE_ID_MAX} letters, digits, '_', '.' or '-', not only dots"
SESSION_ID_RULE = f"1-{SESSION_ID_MAX} letters, digits, '_', '.' or '-', not only dots"
EVENT_ID_RULE = f"1-{EVENT_ID_MAX} letters, digits, '_', '.', '-' or ':'"


def shown(value: str, limit: int = 40) -> str:
    """``value`` quoted for a log line or a dead-letter reason: escaped and cut, never raw control characters."""
    return repr(value[:limit] + ("…" if len(value) > limit else ""))


def _check(value: str, pattern: re.Pattern[str], rule: str, what: str) -> str:
    if not pattern.fullmatch(value) or ONLY_DOTS.fullmatch(value):  # fullmatch: "$" alone lets a trailing newline through
        raise ValueError(f"{what} {shown(value)} is not {rule}")
    return value


def check_source_id(value: str) -> str:
    return _check(value, SOURCE_ID, SOURCE_ID_RULE, "source id")


def check_session_id(value: str) -> str:
    return _check(value, SESSION_ID, SESSION_ID_RULE, "session id")


def check_event_id(value: str) -> str:
    return _check(value, EVENT_ID, EVENT_ID_RULE, "id")


# The pattern is repeated for the JSON Schema; the validator adds the "not only dots" rule and a readable message.
_NOT_ONLY_DOTS = {"not": {"pattern": ONLY_DOTS.pattern}}
SourceId = Annotated[str, AfterValidator(check_source_id), Field(json_schema_extra={"pattern": SOURCE_ID.pattern, **_NOT_ONLY_DOTS})]
SessionId = Annotated[str, AfterValidator(check_session_id), Field(json_schema_extra={"pattern": SESSION_ID.pattern, **_NOT_ONLY_DOTS})]
EventId = Annotated[str, AfterValidator(check_event_id), Field(json_schema_extra={"pattern": EVENT_ID.pattern})]


def is_source_id(value: str) -> bool:
    try:
        check_source_id(value)
    except ValueError:
        return False
    return True


def is_session_id(value: str) -> bool:
    try:
        check_session_id(value)
    except ValueError:
        return False
    return True
