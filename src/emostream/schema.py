"""The public event schema, loaded from the versioned JSON Schema file shipped in the package."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

EVENT_SCHEMA = "event.v1.json"


@cache
def event_validator() -> Draft202012Validator:
    schema = json.loads((resources.files("emostream") / "schemas" / EVENT_SCHEMA).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def event_errors(event: Any) -> list[str]:
    """Every way ``event`` breaks the schema, as 'path: message' lines; empty when valid."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(event_validator().iter_errors(event), key=lambda e: list(e.absolute_path))
    ]
