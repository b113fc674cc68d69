"""Render the configuration reference (docs/configuration.md) from the pydantic models.

The page is generated, and a test checks it matches the code, so the
documentation of every key, default and bound cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from emostream.config import Config, SourceConfig

BEGIN, END = "<!-- BEGIN GENERATED REFERENCE -->", "<!-- END GENERATED REFERENCE -->"


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(see below)" if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) else "[]"
    if field.is_required():
        return "required"
    value = field.default
    return "empty" if value is None else f"`{value}`"


def _bounds(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for name, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "length ≥"), ("max_length", "length ≤")):
            value = getattr(meta, name, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    annotation = str(field.annotation).replace("typing.", "")
    if "Literal" in annotation:
        parts.append("one of " + annotation.split("Literal[", 1)[1].rstrip("]").replace("'", ""))
    return ", ".join(parts)


def _table(model: type[BaseModel], section: str) -> list[str]:
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            continue
        env = f"EMOSTREAM_{section.upper()}__{name.upper()}" if section else f"EMOSTREAM_{name.upper()}"
        rows.append(f"| `{name}` | {_default(field)} | {_bounds(field)} | {field.description or ''} (`{env}`) |")
    return rows


def reference() -> str:
    lines = [BEGIN, ""]
    for name, field in Config.model_fields.items():
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines += [f"### `{name}`", "", *_table(annotation, name), ""]
    lines += ["### `sources[]`", "", "A list; each item:", "", *_table(SourceConfig, "sources"), ""]
    lines += ["### top level", "", "| key | default | allowed | meaning |", "|---|---|---|---|"]
    lines += ["| `log_level` | `INFO` | DEBUG, INFO, WARNING, ERROR | Log level of every worker; `--log-level` overrides it. (`EMOSTREAM_LOG_LEVEL`) |", ""]
    lines.append(END)
    return "\n".join(lines).replace("(`EMOSTREAM_SOURCES__", "(in `EMOSTREAM_SOURCES` as YAML; `EMOSTREAM_SOURCES__")


def render(page: str) -> str:
    """``page`` with the text between the markers replaced by the current reference."""
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + reference() + tail


def main() -> int:
    """``python -m emostream.config.doc [FILE]``: print the reference, or rewrite FILE in place."""
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
        path.write_text(render(path.read_text()))
    else:
        sys.stdout.write(reference() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
