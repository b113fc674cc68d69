"""Hypothesis strategies for emostream's configuration, derived from the pydantic models themselves.

Deriving them (types, bounds, Literal choices, patterns) rather than listing the
keys keeps the properties true to the code as sections and fields are added.
"""

from __future__ import annotations

import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from emostream.config import Config, RedisConfig, SourceConfig

# Text a user might type: printable, no surrogates, no NUL (no file system accepts it in a path).
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=24)
yamlish = st.sampled_from(["1", "0", "-1", "1.5", "true", "yes", "on", "off", "null", "~", "[]", "{}", "[a", "a: b", "- x", "0x10", "1e3",
                           "2024-01-01", "2024-13-45", "!!python/none", "&a b", "*a", "'q", '"', "#", "%", "@x", "`"])
paths = st.sampled_from(["/run/secrets/redis", "secret.txt", "/tmp/ca.pem", "sessions", "./out", "models/compact"])
paths = paths | plain_text.filter(bool)
SOURCE_IDS = st.from_regex(r"[A-Za-z0-9_.-]{1,16}", fullmatch=True)
REDIS_URLS = st.sampled_from([
    "redis://127.0.0.1:6379/0", "redis://:pw@127.0.0.1:6379/1", "redis://user:pw@redis:6379/0", "unix:///run/redis.sock",
    "redis://[::1]:6379/0",
])


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                out[name] = value
    return out


def _number(kind: type, bounds: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = bounds.get("ge", bounds.get("gt"))
    high = bounds.get("le", bounds.get("lt"))
    if kind is int:
        low_i = None if low is None else int(low) + (1 if "gt" in bounds else 0)
        high_i = None if high is None else int(high) - (1 if "lt" in bounds else 0)
        return st.integers(low_i if low_i is not None else -(10**6), high_i if high_i is not None else 10**7)
    return st.floats(
        min_value=low if low is not None else -1e6, max_value=high if high is not None else 1e7,
        exclude_min="gt" in bounds, exclude_max="lt" in bounds, allow_nan=False, allow_infinity=False,
    )


def value_of(annotation: Any, metadata: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value for a field of this type and these constraints (JSON-compatible, as a YAML file holds it)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        # For an optional key, empty text and null mean the same (unset), as they must in an environment variable.
        return st.one_of([st.none() if a is type(None) else value_of(a, metadata).filter(lambda v: v != "") for a in args])
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list and args and args[0] is SourceConfig:
        return st.lists(sources(), max_size=3, unique_by=lambda s: s["id"])
    if origin is list and args and get_origin(args[0]) is typing.Annotated:
        # classifier.shards, indices checked against redis.faces_shards (at least 1): only shard 0 is valid with any count.
        return st.lists(st.just(0), max_size=1)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return section(annotation)
    bounds = _bounds(metadata)
    if annotation is bool:
        return st.booleans()
    if annotation in (int, float):
        return _number(annotation, bounds)
    if annotation is Path:
        return paths
    if annotation is str:
        if "pattern" in bounds:
            return st.from_regex(bounds["pattern"], fullmatch=True)
        low, high = bounds.get("min_length", 0), bounds.get("max_length", 40)
        return (plain_text | yamlish).filter(lambda s: low <= len(s) <= high)
    raise NotImplementedError(f"no strategy for {annotation!r}: extend tests/property/strategies.py")


def field_value(info: FieldInfo) -> st.SearchStrategy[Any]:
    return value_of(info.annotation, list(info.metadata))


def section(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Some of the section's keys (the rest take their defaults), each with a valid value."""
    if model is RedisConfig:
        return redis_section()
    return st.fixed_dictionaries({}, optional={name: field_value(info) for name, info in model.model_fields.items()})


@st.composite
def redis_section(draw: st.DrawFn) -> dict[str, Any]:
    """Consistent by construction: TLS settings only with rediss://, one way of giving the password."""
    fields = RedisConfig.model_fields
    plain = {name: field_value(fields[name]) for name in ("prefix", "faces_maxlen", "events_maxlen", "connect_timeout_s", "username")}
    out = draw(st.fixed_dictionaries({}, optional=plain))
    if draw(st.booleans()):
        out["url"] = draw(REDIS_URLS)
    if draw(st.booleans()):
        out["url"] = "rediss://redis.example:6380/0"
        out.update(draw(st.fixed_dictionaries({}, optional={"tls_ca_file": paths, "tls_insecure": st.booleans()})))
        if draw(st.booleans()):
            out["tls_cert_file"] = draw(paths)
            out.update(draw(st.fixed_dictionaries({}, optional={"tls_key_file": paths})))
    choice = draw(st.sampled_from(["none", "password", "password_file"]))
    if choice != "none":
        out[choice] = draw(plain_text.filter(bool) | yamlish if choice == "password" else paths)
    return out


@st.composite
def sources(draw: st.DrawFn) -> dict[str, Any]:
    fields = {name: info for name, info in SourceConfig.model_fields.items() if name not in ("id", "url")}
    body = draw(st.fixed_dictionaries({}, optional={name: field_value(info) for name, info in fields.items()}))
    url = draw(st.sampled_from(["rtsp://cam.local/stream", "/videos/a.mp4", "0", "/dev/video0", "lavfi:testsrc", "http://h/x.m3u8"])
               | plain_text.filter(bool))
    return {"id": draw(SOURCE_IDS), "url": url, **body}


def valid_config_data() -> st.SearchStrategy[dict[str, Any]]:
    """Mappings that should validate (cross-field rules aside, which the caller filters with ``assume``)."""
    return st.fixed_dictionaries({}, optional={name: field_value(info) for name, info in Config.model_fields.items()})


# --- arbitrary (mostly invalid) input ----------------------------------------------------------

hostile = st.sampled_from([math.inf, -math.inf, math.nan, 10**400, -(10**30), 2**63, -1, 0, True, None, "", "x", [], {}, [1, "a"]])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | plain_text | yamlish,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
    max_leaves=8,
)


def any_section(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Real keys of ``model`` (and some made-up ones) with values that are often of the wrong type or out of bounds."""
    keys = st.sampled_from(sorted(model.model_fields)) | plain_text
    return st.dictionaries(keys, json_values | hostile | st.deferred(lambda: any_config_value()), max_size=6)


def any_config_value() -> st.SearchStrategy[Any]:
    return json_values | hostile


def any_config_data() -> st.SearchStrategy[dict[Any, Any]]:
    sections = {name: info.annotation for name, info in Config.model_fields.items()}
    per_key = {
        name: (any_section(ann) if isinstance(ann, type) and issubclass(ann, BaseModel) else any_config_value())
        | field_value(Config.model_fields[name])
        for name, ann in sections.items()
    }
    per_key["sources"] = st.lists(any_section(SourceConfig) | sources(), max_size=3) | any_config_value()
    known = st.fixed_dictionaries({}, optional=per_key)
    unknown = st.dictionaries(plain_text | st.integers() | st.none() | st.booleans(), any_config_value(), max_size=3)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


def env_name(path: list[str]) -> str:
    return "EMOSTREAM_" + "__".join(part.upper() for part in path)


ENV_NAMES = st.sampled_from(
    [env_name([s, f]) for s, info in Config.model_fields.items()
     if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
     for f in info.annotation.model_fields]
    + ["EMOSTREAM_SOURCES", "EMOSTREAM_LOG_LEVEL", "EMOSTREAM_", "EMOSTREAM_REDIS", "EMOSTREAM_A__B__C", "EMOSTREAM_REDIS____URL",
       "EMOSTREAM_CONFIG", "OTHER"]
) | st.from_regex(re.compile(r"EMOSTREAM_[A-Z_]{0,20}"), fullmatch=True)
