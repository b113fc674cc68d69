"""The public JSON Schemas, generated from the message classes: events, track events, session summaries.

The files ``src/emostream/schemas/{event,track,summary}.v<N>.json`` are what
users and other languages read; ``python -m emostream.streams.schema`` writes
them and a test fails when one differs from what its model generates, so the
published schemas and the code cannot drift apart. Another test holds a digest
per published version: a schema that changes while ``SCHEMA_VERSION`` does not
fails it (docs/events.md, "Versions").

A schema describes what a producer of its version writes, so it allows no
unknown properties; readers (the models included) ignore fields a later
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
from pydantic import BaseModel

from emostream.streams.events import EmotionEvent
from emostream.streams.keys import SCHEMA_VERSION
from emostream.streams.records import SessionSummary, TrackEvent

# Each public document: its schema's file stem and the class that builds and reads it.
DOCUMENTS: dict[str, type[BaseModel]] = {"event": EmotionEvent, "track": TrackEvent, "summary": SessionSummary}
EVENT_SCHEMA = f"event.v{SCHEMA_VERSION}.json"
EVENT_SCHEMA_ID = f"https://emostream.dev/schemas/{EVENT_SCHEMA}"


def schema_file(kind: str = "event") -> str:
    """``event.v1.json``: the document kind and the schema version it describes."""
    if kind not in DOCUMENTS:
        raise ValueError(f"no schema for {kind!r}; known: {', '.join(DOCUMENTS)}")
    return f"{kind}.v{SCHEMA_VERSION}.json"


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


def generated_schema(kind: str = "event") -> dict[str, Any]:
    """The schema document of ``kind``, as generated from its model."""
    name = schema_file(kind)
    generated = _closed(DOCUMENTS[kind].model_json_schema(mode="validation"))
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"https://emostream.dev/schemas/{name}", **generated}


def event_schema() -> dict[str, Any]:
    return generated_schema("event")


def schema_text(kind: str = "event") -> str:
    return json.dumps(generated_schema(kind), indent=2) + "\n"


def shipped_schema_path(kind: str = "event") -> Path:
    return Path(str(resources.files("emostream") / "schemas" / schema_file(kind)))


@cache
def validator(kind: str = "event") -> Draft202012Validator:
    """A validator of the shipped schema file (what users get), checked to be a valid schema itself."""
    schema = json.loads(shipped_schema_path(kind).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(kind: str, document: Any) -> list[str]:
    """Every way ``document`` breaks the ``kind`` schema, as 'path: message' lines; empty when valid."""
    if isinstance(document, BaseModel):
        document = document.model_dump(mode="json")
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator(kind).iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def event_errors(event: Any) -> list[str]:
    if isinstance(event, EmotionEvent):
        event = event.to_dict()
    return schema_errors("event", event)


if __name__ == "__main__":  # regenerate the shipped files after changing a model: python -m emostream.streams.schema [FOLDER]
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else shipped_schema_path().parent
    for kind in DOCUMENTS:
        (folder / schema_file(kind)).write_text(schema_text(kind))
        print(f"wrote {folder / schema_file(kind)}")
