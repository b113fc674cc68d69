"""Dividing the sources among the running aggregators: members, a balanced plan, and leases with an expiry.

Every aggregator announces itself in the hash ``<prefix>:agg:members``
(member -> heartbeat time) once per round; one not heard of for ``lease_s``
is dropped from it, with a log line. From the registered sources and the
live members, each aggregator computes the same plan (:func:`assign`), and
tries to hold a lease on the sources the plan gives it and releases the others.

Details at :class:`SourceLeases`.
"""

from __future__ import annotations

import logging
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from emostream.streams.group_commands import Entry
from emostream.streams.keys import AGGREGATOR_GROUP, Keys
from emostream.streams.lease_scripts import LeaseScripts
from emostream.streams.scripts import script_pipeline

log = logging.getLogger(__name__)

TAKE_OVER_COUNT = 500  # entries claimed per call from a source's last owner


def take_over(client: redis.Redis, stream: str, consumer: str) -> Iterator[list[Entry]]:
    """Claim, a page at a time, every entry of ``stream`` pending at any consumer, at any idle time.

    Called by a source's new owner before it reads: only the lease holder reads
    a source, so whatever is pending there was left by a former owner (released
    with work in hand, or dead). One pass of the cursor, so entries claimed here
    and still held are not claimed again.
    """
    cursor: Any = "0-0"
    while True:
        reply: Any = client.xautoclaim(stream, AGGREGATOR_GROUP, consumer, 0, start_id=cursor, count=TAKE_OVER_COUNT)
        cursor = reply[0]
        entries = [(eid, fields) for eid, fields in reply[1] if fields]
        if entries:
            yield entries
        if cursor in (b"0-0", "0-0"):
            return


def assign(sources: Iterable[str], members: Iterable[str]) -> dict[str, str]:
    """The same balanced plan for everyone who sees the same sources and members: source -> member.

    Each member gets ``floor(S/M)`` or ``floor(S/M) + 1`` sources. A source goes
    to its highest-ranked member (rendezvous hashing on source and member) that
    still has room, so a member joining or leaving moves few sources.
    """
    ranked_members = sorted(set(members))
    ordered = sorted(set(sources))
    if not ranked_members:
        return {}
    base, extra = divmod(len(ordered), len(ranked_members))
    load: Counter[str] = Counter()
    out = {}
    for source in ordered:
        ranking = sorted(ranked_members, key=lambda m: (zlib.crc32(f"{source}\0{m}".encode()), m), reverse=True)
        for member in ranking:
            if load[member] < base or (load[member] == base and extra > 0):
                if load[member] == base:
                    extra -= 1
                load[member] += 1
                out[source] = member
                break
    return out


@dataclass
class Round:
    """What one :meth:`SourceLeases.round` changed; the caller stops or starts reading accordingly."""

    acquired: dict[str, int] = field(default_factory=dict)  # source -> epoch (its fencing token)
    lost: list[str] = field(default_factory=list)  # taken by another while we thought we held it
    to_release: list[str] = field(default_factory=list)  # ours, but planned for another: finish, then :meth:`release`
    dropped: list[str] = field(default_factory=list)  # members found silent for a lease (their other pending work is ours to claim)


class SourceLeases:
    """One aggregator's view of the sharing: its membership and the leases it holds.

    A lease is the key ``<prefix>:agg:lease:{<source>}`` holding the owner's token
    and its deadline. The owner renews it every round; a lease past its deadline
    is free, so the sources of an aggregator that died (SIGKILL, a lost host) are
    taken within ``lease_s`` plus one round. Deadlines are judged by the callers'
    clocks (injected here, so the logic is tested with a fake clock), so hosts
    need their clocks in step (NTP): a skew shifts take-over by as much.

    Each acquisition increments the source's epoch (``<prefix>:agg:epoch:{<source>}``),
    the fencing token the owner passes to every counting call: a session refuses
    a token lower than one it has already counted with (``streams/lua/count_events.lua``).
    An aggregator that stalled past its deadline and was replaced therefore
    counts nothing more into any session its successor has touched, and learns
    it lost the source from the refusal or from its next renewal, whichever comes first.
    Both keys of a source are in the source's hash slot.
    """

    def __init__(
        self, client: redis.Redis, keys: Keys, member: str, lease_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.keys = keys
        self.member = member
        self.lease_ms = int(lease_s * 1000)
        self.clock = clock
        # The member name first, so a restarted aggregator of the same name takes its own leases at once.
        self.token = f"{member} {uuid.uuid4().hex[:12]}"
        self.owned: dict[str, int] = {}  # source -> epoch
        self.scripts = LeaseScripts(client, keys)

    @property
    def round_s(self) -> float:
        """How often to run :meth:`round`: three times per lease, and at least every second (joins converge fast)."""
        return min(1.0, self.lease_ms / 3000.0)

    def fence(self, source: str) -> int:
        return self.owned.get(source, 0)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def members(self) -> tuple[list[str], list[str]]:
        """Announce ourselves; answer the live members, and those found silent for a lease and dropped (with a log line)."""
        now = self.clock()
        self.client.hset(self.keys.aggregators, self.member, repr(now))
        live, dropped = [], []
        for raw_member, raw_seen in self.client.hgetall(self.keys.aggregators).items():
            member, seen = _text(raw_member), float(_text(raw_seen) or 0)
            if member == self.member or now - seen <= self.lease_ms / 1000.0:
                live.append(member)
            elif self.client.hdel(self.keys.aggregators, member):  # one of the others may have dropped it first
                dropped.append(member)
                log.warning("aggregator %s: member %s silent for %.1f s, dropped; its sources are taken once their leases expire",
                            self.member, member, now - seen)
        return sorted(live), dropped

    def keep_alive(self) -> None:
        """Announce ourselves and renew what we hold, nothing more (see ``keepalive``); a lease found lost is noticed by the next round."""
        now = self._now_ms()
        self.client.hset(self.keys.aggregators, self.member, repr(self.clock()))
        held = sorted(list(self.owned))
        if held:
            pipe = script_pipeline(self.client)
            for source in held:
                pipe.add(self.scripts.renew(source, self.token, now, self.lease_ms))
            pipe.execute()

    def round(self, sources: Iterable[str]) -> Round:
        """Renew what we hold, then take the free sources the plan gives us; say which to give up."""
        result = Round()
        now = self._now_ms()
        sources = sorted(set(sources))
        held = sorted(self.owned)
        if held:
            pipe = script_pipeline(self.client)
            for source in held:
                pipe.add(self.scripts.renew(source, self.token, now, self.lease_ms))
            for source, renewed in zip(held, pipe.execute(), strict=True):
                if not renewed:
                    self.owned.pop(source)
                    result.lost.append(source)
                    log.warning("aggregator %s: lost the lease of source %s (another aggregator took it after it expired)",
                                self.member, source)
        live, result.dropped = self.members()
        plan = assign(sources, live)
        mine = {s for s, m in plan.items() if m == self.member}
        result.to_release = sorted(set(self.owned) - mine)
        for source in sorted(mine - set(self.owned)):
            reply = self.scripts.acquire(source, self.token, self.member, now, self.lease_ms)()
            if reply is None:
                continue  # still held by its last owner: it releases it at its next round, or the lease expires
            epoch, previous, how = int(reply[0]), _text(reply[1]), _text(reply[2])
            self.owned[source] = epoch
            result.acquired[source] = epoch
            if how == "expired":
                log.warning("aggregator %s: took over source %s from %s, whose lease expired (it stopped answering)",
                            self.member, source, previous.split(" ")[0])
            else:
                log.info("aggregator %s: leased source %s (epoch %d%s)", self.member, source, epoch,
                         f", {how} by {previous.split(' ')[0]}" if how else "")
        return result

    def release(self, source: str) -> None:
        """Give a source up after finishing its held work (the caller's job); its next owner continues from there."""
        if self.owned.pop(source, None) is None:
            return
        self.scripts.release(source, self.token)()
        log.info("aggregator %s: released source %s", self.member, source)

    def lose(self, source: str) -> None:
        """Forget a source whose counting was refused (a newer owner counts it)."""
        if self.owned.pop(source, None) is not None:
            log.warning("aggregator %s: source %s is counted by a newer owner; stopped reading it", self.member, source)

    def leave(self) -> None:
        """On a clean stop: release every lease and the membership, so the others take over at once."""
        for source in sorted(self.owned):
            self.release(source)
        self.client.hdel(self.keys.aggregators, self.member)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")

