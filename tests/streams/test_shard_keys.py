"""Faces shard names persist in Redis: they must never change for a given count, and must spread over the slot range."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from emostream.streams.keys import Keys


def test_shard_names_are_fixed() -> None:
    # Pinned: changing the tag algorithm would strand the faces queued under the old names.
    assert Keys("em").face_shards(6) == ["em:faces:{0.1}", "em:faces:{1.3}", "em:faces:{2.2}", "em:faces:{3.10}", "em:faces:{4.11}", "em:faces:{5.0}"]
    assert Keys("em").face_shards(1) == ["em:faces"]


@pytest.mark.parametrize("n", [2, 3, 6, 12, 64])
def test_shard_k_lies_in_the_kth_nth_of_the_slots(n: int) -> None:
    slots = [key_slot(name.encode()) for name in Keys("em").face_shards(n)]
    assert [slot * n // 16384 for slot in slots] == list(range(n)), slots


def test_a_source_keeps_its_shard_and_sources_spread() -> None:
    keys = Keys("em")
    assert keys.face_shard("cam-17", 6) == keys.face_shard("cam-17", 6)
    counts = [sum(keys.face_shard(f"cam-{i}", 6) == shard for i in range(600)) for shard in keys.face_shards(6)]
    assert min(counts) > 60, f"600 sources over 6 shards: {counts}"
