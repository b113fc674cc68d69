"""Everything ingest writes to Redis, each write retried safely across a Redis restart.

Two writes are not idempotent: the session end message, and a frame's face
jobs with the checkpoint after them (both one MULTI/EXEC, see
``ingest/checkpoint.py``). A connection lost after Redis executed one but
before its reply came back looks like a failure; retrying blindly would
publish the faces twice. Each of them is therefore retried through
:meth:`Reconnector.call` with a ``committed`` check that reads the checkpoint
first: if it already stands where the write would have left it, the write
landed and is not repeated. The session start and the registration of the
source are harmless to repeat (the aggregator records a start idempotently).

Details at :class:`IngestPublisher`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from emostream.ingest import checkpoint
from emostream.ingest.stages import OFF, StageClock
from emostream.streams.facejob import FaceJob
from emostream.streams.keys import LIFECYCLE_MAXLEN, Keys
from emostream.streams.lifecycle import SessionEnd, SessionStart, encode_lifecycle
from emostream.streams.reconnect import Reconnector
from emostream.streams.topology import topology_of


@dataclass(frozen=True)
class FrameWrite:
    """One analysed frame's writes: its face jobs, then the checkpoint ``state`` after ``frame_index``."""

    source: str
    session: str
    frame_index: int
    jobs: list[FaceJob]
    state: str


class IngestPublisher:
    """One per ingest worker, shared by its source threads (redis-py clients are thread-safe).

    On a Redis Cluster a transaction must stay in one slot. A frame's faces go to
    the source's faces shard and its checkpoint carries that shard's hash tag, so
    the frame stays one MULTI/EXEC. The end message (the shared lifecycle stream)
    and the checkpoint are in different slots: there the message is written
    first and the checkpoint deleted (or marked ended) after it, and a crash between the two
    repeats the end message, which the aggregator records idempotently.
    """

    def __init__(
        self, client: redis.Redis, keys: Keys, reconnector: Reconnector, faces_maxlen: int, faces_shards: int = 1, stages: StageClock = OFF
    ) -> None:
        self.client, self.keys, self.reconnector, self.faces_maxlen = client, keys, reconnector, faces_maxlen
        self.shards, self.stages = faces_shards, stages
        self.topology = topology_of(client)

    def register(self, source: str) -> None:
        """List the source in ``<prefix>:sources`` so the aggregator and subscribers find its streams."""
        self.reconnector.call(lambda: self.client.sadd(self.keys.sources, source))

    def session_started(self, message: SessionStart) -> None:
        fields: Any = encode_lifecycle(message)
        self.reconnector.call(lambda: self.client.xadd(self.keys.lifecycle, fields, maxlen=LIFECYCLE_MAXLEN, approximate=True))

    def session_ended(self, message: SessionEnd, checkpointed: bool, mark: str | None = None) -> None:
        """The end message and the deletion of the session's checkpoint, together.

        ``checkpointed``: whether the session wrote a checkpoint (it analysed a
        frame). One that never did leaves nothing to tell a landed write by; a
        second end message is harmless there (the aggregator records an end
        idempotently). ``mark``: what the checkpoint becomes instead of being
        deleted (:func:`checkpoint.ended`, a file played to its end).
        """
        fields: Any = encode_lifecycle(message)
        key = self.keys.checkpoint(message.source, self.shards)

        def publish() -> None:  # two slots on a cluster: the message first, so a lost checkpoint never hides a missing end
            self.topology.together(
                self.client,
                lambda c: c.xadd(self.keys.lifecycle, fields, maxlen=LIFECYCLE_MAXLEN, approximate=True),
                lambda p: p.delete(key) if mark is None else p.set(key, mark),
            )

        def published() -> bool:  # the checkpoint goes with the end message (or becomes its ended mark)
            body = checkpoint.load(self.client, key)
            return body is None or body["session"] != message.session or checkpoint.is_ended(body)

        self.reconnector.call(publish, committed=published if checkpointed else None)

    def frame(self, source: str, session: str, frame_index: int, jobs: list[FaceJob], state: str) -> None:
        """One analysed frame: its face jobs and the checkpoint after it, atomically (a restart resumes exactly here)."""
        self.frames([FrameWrite(source, session, frame_index, jobs, state)])

    def frames(self, writes: list[FrameWrite]) -> None:
        """Analysed frames, each with its checkpoint after its jobs, in one MULTI/EXEC per faces shard.

        A transaction is all or nothing, so several frames in one (of one source
        or of many, in the order given) keep each frame's jobs and checkpoint
        together as one frame alone does; it costs one round trip instead of one
        per frame. A cluster runs a transaction within one slot: a shard's
        stream and the checkpoints of its sources share its hash tag.
        """
        by_shard: dict[str, list[FrameWrite]] = {}
        for write in writes:
            by_shard.setdefault(self.keys.face_shard(write.source, self.shards), []).append(write)
        for shard, group in by_shard.items():
            self.stages.mark()
            entries: list[tuple[str, list[Any], str]] = [
                (self.keys.checkpoint(w.source, self.shards), [job.encode() for job in w.jobs], w.state) for w in group
            ]
            self.stages.lap("encode")
            last = {w.source: w for w in group}  # where each source's checkpoint stands once the transaction ran

            def publish(shard: str = shard, entries: list[tuple[str, list[Any], str]] = entries) -> None:
                pipe = self.client.pipeline(transaction=True)  # one slot: the shard and the checkpoints share its tag
                for key, encoded, state in entries:
                    for fields in encoded:
                        pipe.xadd(shard, fields, maxlen=self.faces_maxlen, approximate=True)
                    pipe.set(key, state)
                pipe.execute()

            def published(last: dict[str, FrameWrite] = last) -> bool:
                for w in last.values():
                    body = checkpoint.load(self.client, self.keys.checkpoint(w.source, self.shards))
                    if body is None or body["session"] != w.session or body["frame_index"] < w.frame_index:
                        return False
                return True

            self.reconnector.call(publish, committed=published)
            self.stages.lap("publish")

    def checkpoint(self, source: str) -> dict[str, Any] | None:
        """Where a previous run left the source's open session, if it did."""
        return self.reconnector.call(lambda: checkpoint.load(self.client, self.keys.checkpoint(source, self.shards)))

    def checkpoint_key(self, source: str) -> str:
        return self.keys.checkpoint(source, self.shards)

    def side(self, op: Callable[[], object]) -> None:
        """A best-effort write of someone else's (the live preview), retried like ours while Redis is down."""
        self.reconnector.call(op)
