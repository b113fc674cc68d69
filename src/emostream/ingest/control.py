"""Adding and removing sources at run time, through Redis.

Each ingest worker has a name (``ingest.name``, default the host name) and a
hash ``<prefix>:ingest:<name>:sources`` of run-time changes on top of its
configuration file: ``source id -> {"op": "add", "source": {...}}`` or
``{"op": "remove"}``. The worker polls the hash (every
:data:`POLL_S`), computes the sources it should run, and starts, stops or
restarts only the ones whose entry changed; the others are not touched.
``emostream sources add/remove`` writes the hash; the worker publishes what
it runs (credentials masked) in ``<prefix>:ingest:workers``, which
``emostream sources list`` reads and ``add``/``remove`` wait on.

Details at :func:`wanted_sources`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import redis
from pydantic import ValidationError

from emostream.config import IngestConfig, SourceConfig
from emostream.streams.keys import Keys

log = logging.getLogger(__name__)

POLL_S = 0.5  # how often a worker reads its hash of run-time changes
HEARTBEAT_S = 1.0  # how often a worker publishes its state
STALE_S = 10.0  # a worker state older than this is shown as not running


def worker_name(cfg: IngestConfig) -> str:
    """The configured name, else the host name made safe for a key."""
    if cfg.name:
        return cfg.name
    return re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:64] or "ingest"


def owner(source_id: str, configured: list[str], processes: int) -> int:
    """Which of an ingest role's ``processes`` children runs ``source_id`` (``ingest.processes``).

    A configured source is dealt by its place among the configured ids, sorted
    (even shares); any other (added at run time) by a stable hash of its id.
    Every child computes the same answer from the same configuration, so a
    source is run by one child only, a run-time entry replacing a configured
    source included.
    """
    ids = sorted(set(configured))
    if source_id in ids:
        return ids.index(source_id) % processes
    return int.from_bytes(hashlib.blake2b(source_id.encode(), digest_size=8).digest(), "big") % processes


@dataclass(frozen=True)
class Wanted:
    """A source a worker should run; ``revision`` changes when it must be (re)started."""

    source: SourceConfig
    origin: str  # "config" or "runtime"
    revision: str


@dataclass
class Overrides:
    added: dict[str, Wanted] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    invalid: dict[str, str] = field(default_factory=dict)  # source id -> why its entry was ignored


def parse_overrides(raw: dict[bytes, bytes]) -> Overrides:
    """The hash's entries; a malformed entry is reported in ``invalid`` and otherwise ignored."""
    out = Overrides()
    for key, value in raw.items():
        source_id = key.decode(errors="replace")
        try:
            entry = json.loads(value)
            op = entry["op"]
            if op == "remove":
                out.removed.add(source_id)
            elif op == "add":
                src = SourceConfig.model_validate(entry["source"])
                if src.id != source_id:
                    raise ValueError(f"entry for {source_id!r} holds source {src.id!r}")
                out.added[source_id] = Wanted(src, "runtime", str(entry.get("ts", "")))
            else:
                raise ValueError(f"unknown op {op!r}")
        except ValidationError as exc:
            out.invalid[source_id] = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'source'}: {e['msg']}" for e in exc.errors())
        except (ValueError, KeyError, TypeError) as exc:
            out.invalid[source_id] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return out


def wanted_sources(configured: list[SourceConfig], overrides: Overrides | None) -> dict[str, Wanted]:
    """The configuration's sources, with run-time additions (which win on an id clash) and removals applied.

    Why a hash of desired state rather than a stream of commands: a change made
    while the worker is down or restarting is not lost, a restarted worker comes
    back with the sources added at run time, and applying the same state twice
    does nothing. The trade-off: a URL with a password is stored in Redis, as it
    is in the configuration file, so Redis must be protected like that file.
    """
    wanted = {src.id: Wanted(src, "config", "config") for src in configured}
    if overrides is None:
        return wanted
    for source_id in overrides.removed:
        wanted.pop(source_id, None)
    wanted.update(overrides.added)
    return wanted


def read_overrides(client: redis.Redis, keys: Keys, worker: str) -> Overrides:
    raw: dict[bytes, bytes] = client.hgetall(keys.ingest_sources(worker))  # type: ignore[assignment]
    return parse_overrides(raw)


def request_add(client: redis.Redis, keys: Keys, worker: str, src: SourceConfig) -> None:
    entry = {"op": "add", "source": src.model_dump(mode="json", exclude_none=True), "ts": time.time()}
    client.hset(keys.ingest_sources(worker), src.id, json.dumps(entry))


def request_remove(client: redis.Redis, keys: Keys, worker: str, source_id: str) -> None:
    client.hset(keys.ingest_sources(worker), source_id, json.dumps({"op": "remove", "ts": time.time()}))


def publish_state(client: redis.Redis, keys: Keys, worker: str, sources: list[dict[str, Any]], group: str | None = None) -> None:
    """``group``: the ingest role's name when this worker is one of its children (``ingest.processes``)."""
    state = {"worker": worker, "host": socket.gethostname(), "pid": os.getpid(), "ts": time.time(), "sources": sources}
    if group is not None:
        state["group"] = group
    client.hset(keys.ingest_workers, worker, json.dumps(state))


def clear_state(client: redis.Redis, keys: Keys, worker: str) -> None:
    client.hdel(keys.ingest_workers, worker)


def read_workers(client: redis.Redis, keys: Keys) -> dict[str, dict[str, Any]]:
    """Every worker's last published state, with ``age_s`` (seconds since it was published).

    The children of one ingest role (``ingest.processes``) are shown as that
    role, under its name: their sources together, the age of the oldest.
    """
    workers: dict[str, dict[str, Any]] = {}
    now = time.time()
    entries: dict[bytes, bytes] = client.hgetall(keys.ingest_workers)  # type: ignore[assignment]
    for name, raw in entries.items():
        try:
            state = json.loads(raw)
        except json.JSONDecodeError:
            continue
        state["age_s"] = max(0.0, now - float(state.get("ts", 0)))
        group = state.get("group")
        if group is None:
            workers[name.decode(errors="replace")] = state
        elif group in workers:
            merged = workers[group]
            merged["sources"] = merged["sources"] + state["sources"]
            merged["age_s"] = max(merged["age_s"], state["age_s"])
            merged["pid"] = f"{merged['pid']},{state['pid']}"
        else:
            workers[group] = {**state, "worker": group}
    return workers
