"""The public JSON Schema of the emotion event, generated from :class:`~emostream.streams.events.EmotionEvent`.

The file ``src/emostream/schemas/event.v1.json`` is what users and other
languages read; it is written by ``python -m emostream.streams.schema`` and a
test fails when it differs from what the model generates, so the published
schema and the code that builds and reads events cannot drift apart.

The schema describes what a version-1 producer writes, so it allows no
unknown properties; readers (the model included) ignore fields a later
producer adds within the version, as docs/events.md promises.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from emostream.streams.events import EmotionEvent

EVENT_SCHEMA = "event.v1.json"
EVENT_SCHEMA_ID = "https://emostream.dev/schemas/event.v1.json"


def _closed(node: Any) -> Any:
    """Every object of the schema closed to unknown properties (pydantic marks ``extra="allow"`` models open)."""
    if isinstance(node, dict):
        out = {k: _closed(v) for k, v in node.items()}
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def event_schema() -> dict[str, Any]:
    """The schema document, as generated from the model."""
    generated = _closed(EmotionEvent.model_json_schema(mode="validation"))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": EVENT_SCHEMA_ID, **generated}


def schema_text() -> str:
    return json.dumps(event_schema(), indent=2) + "\n"


def shipped_schema_path() -> Path:
    return Path(str(resources.files("emostream") / "schemas" / EVENT_SCHEMA))


@cache
def event_validator() -> Draft202012Validator:
    """A validator of the shipped schema file (what users get), checked to be a valid schema itself."""
    schema = json.loads(shipped_schema_path().read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def event_errors(event: Any) -> list[str]:
    """Every way ``event`` breaks the schema, as 'path: message' lines; empty when valid."""
    if isinstance(event, EmotionEvent):
        event = event.to_dict()
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(event_validator().iter_errors(event), key=lambda e: list(e.absolute_path))
    ]


if __name__ == "__main__":  # regenerate the shipped file after changing the model
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else shipped_schema_path()
    target.write_text(schema_text())
    print(f"wrote {target}")
