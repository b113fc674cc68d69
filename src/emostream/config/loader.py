"""Loading: one YAML file, then ``EMOSTREAM_*`` environment variables over it, then validation.

Environment variables override the file: nested keys are joined with a double
underscore (``EMOSTREAM_CLASSIFIER__BATCH_MAX=64``) and values are parsed as
YAML (``EMOSTREAM_SOURCES='[{id: cam1, url: rtsp://...}]'``), except for keys
that hold text, which stay text. Nothing here reads the environment at import
time: :func:`load_config` takes the environment as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from emostream.config.base import ConfigError
from emostream.config.root import Config

ENV_PREFIX = "EMOSTREAM_"
# Variables that configure the command itself, not a key of the file.
ENV_RESERVED = {"EMOSTREAM_CONFIG", "EMOSTREAM_FER2013_DIR"}


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{'.'.join(path)}: {key} is not a section")
        tree = node
    tree[path[-1]] = value


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """``EMOSTREAM_A__B=v`` as ``{"a": {"b": yaml(v)}}``."""
    tree: dict[str, Any] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_RESERVED:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        kind = _leaf_kind(path)
        if raw == "":
            value = "" if kind == "text" else None
        elif kind in ("text", "optional text"):
            # Text keys (passwords, URLs, names, paths, prefixes) stay text even when they
            # look like YAML: a prefix "2024" or a password "yes" must not become 2024 or True.
            value = raw
        else:
            try:
                value = yaml.safe_load(raw)
            except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: e.g. a date like 2024-13-45
                # Say what is wrong with the text; validating it as a string would only
                # report "Input should be a valid list" (or number, or mapping).
                raise ConfigError(f"{name}: not valid YAML ({' '.join(str(exc).split())[:300]})") from None
        _set_path(tree, path, value)
    return tree


def _leaf_kind(path: list[str]) -> str:
    """Whether the key at ``path`` of :class:`Config` holds "text", "optional text", or "other" (parsed as YAML)."""
    model: type[BaseModel] = Config
    for depth, key in enumerate(path):
        info = model.model_fields.get(key)
        if info is None:
            return "other"
        args = get_args(info.annotation) if get_origin(info.annotation) in (UnionType, Union) else (info.annotation,)
        if depth < len(path) - 1:
            sections = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if not sections:
                return "other"
            model = sections[0]
            continue
        textual = all(a in (str, Path, type(None)) for a in args) and any(a in (str, Path) for a in args)
        if not textual:
            return "other"
        return "optional text" if type(None) in args else "text"
    return "other"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(error: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def parse_config(data: Mapping[str, Any], origin: str = "configuration") -> Config:
    try:
        return Config.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (if any), apply environment overrides, validate."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"configuration file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"configuration file {path}: cannot read it ({exc})") from None
        try:
            loaded = yaml.safe_load(text) or {}
        except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: e.g. a date like 2024-13-45
            raise ConfigError(f"{path}: not valid YAML ({str(exc)[:300]})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data, origin = loaded, str(path)
    overrides = env_overrides(environ)
    if overrides:
        data = _merge(data, overrides)
        origin += " + EMOSTREAM_* environment"
    return parse_config(data, origin)


def dump_config(config: Config) -> str:
    """The configuration as YAML, secrets included: for handing to child processes only."""
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)
