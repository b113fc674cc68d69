"""The envelope every entry shares, and the one way a payload is validated.

A stream entry is a flat hash: ``v`` (schema version), ``data`` (a JSON
object) and, depending on the message, ``type`` (repeated outside ``data`` for
cheap filtering) or ``crop`` (raw pixels). Nothing is pickled.

Every message class is a frozen pydantic dataclass or model; decoding hands
the raw ``data`` bytes to pydantic's JSON validator in strict mode, so a
string is never taken for a number, ``true`` never for a count, and NaN or
infinity never for a time. Any failure becomes a :class:`MessageError` whose
text is the reason written to the dead-letter stream.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from emostream.streams.keys import SCHEMA_VERSION

Fields = dict[bytes, bytes]
Encoded = dict[str, bytes | str | memoryview]
T = TypeVar("T")
REASON_MAX = 300


class MessageError(ValueError):
    """A stream entry that is not a valid message of ours."""


def utc_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def envelope(data: bytes, **extra: str | bytes | memoryview) -> Encoded:
    return {"v": SCHEMA_VERSION, "data": data, **extra}


def payload(fields: Fields) -> bytes:
    """The raw ``data`` of an entry of our schema version; MessageError otherwise."""
    version = fields.get(b"v")
    if version is None:
        raise MessageError("no schema version field 'v'")
    if version != SCHEMA_VERSION.encode():
        raise MessageError(f"unsupported schema version {version[:16]!r}")
    raw = fields.get(b"data")
    if raw is None:
        raise MessageError("no 'data' field")
    return raw


def validate(adapter: TypeAdapter[T], raw: bytes, what: str) -> T:
    """``raw`` JSON validated as ``adapter``'s type, strictly; the first few problems as one MessageError."""
    try:
        return adapter.validate_json(raw, strict=True)
    except ValidationError as exc:
        raise MessageError(describe(exc, what)) from None
    except (ValueError, RecursionError) as exc:  # defensive: pydantic reports JSON errors as ValidationError
        raise MessageError(f"'data' is not JSON: {str(exc)[:200]}") from None


def describe(exc: ValidationError, what: str) -> str:
    """A short, single-line reason: where each problem is and what it is (never the raw input)."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0] if errors else {"type": "", "loc": (), "msg": str(exc)}
    if first["type"] == "json_invalid":
        return f"'data' is not JSON: {first['msg'][:200]}"
    if not first["loc"] and first["type"] in ("dataclass_type", "dataclass_exact_type", "model_type", "dict_type"):
        return "'data' is not a JSON object"
    parts = []
    for error in errors[:3]:
        where = ".".join(printable(str(p)) for p in error["loc"]) or "(root)"
        parts.append(f"without '{where}'" if error["type"] == "missing" else f"{where}: {printable(error['msg'])}")
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"malformed {what}: {'; '.join(parts)}{more}"[:REASON_MAX]


def printable(text: str) -> str:
    """``text`` with control and non-ASCII characters escaped: a reason may quote a hostile key."""
    return json.dumps(text)[1:-1]
