"""The few fixed batch shapes ("buckets") inference runs at: powers of two up to ``batch_max``.

Padding every batch to ``batch_max`` would make one face at low load cost as
much as ``batch_max`` faces; one shape per possible size would trace
``batch_max`` graphs. Powers of two keep the padding under 2x with about
log2(batch_max) shapes (7 for 64).
"""

from __future__ import annotations

GPU_SMALLEST_BUCKET = 64


def batch_buckets(batch_max: int, smallest: int = 1) -> tuple[int, ...]:
    """Powers of two from ``smallest`` below ``batch_max``, then ``batch_max`` itself: 1, 2, 4, ..., batch_max.

    A GPU runs 64 faces in about the time of one, so there the smallest shape is
    :data:`GPU_SMALLEST_BUCKET`: fewer shapes to compile (9 up to 16,384) at no cost.
    """
    if batch_max < 1:
        raise ValueError("batch_max must be at least 1")
    sizes, size = [], max(1, smallest)
    while size < batch_max:
        sizes.append(size)
        size *= 2
    sizes.append(batch_max)
    return tuple(sizes)


def bucket_for(count: int, buckets: tuple[int, ...]) -> int:
    for size in buckets:
        if count <= size:
            return size
    raise ValueError(f"batch of {count} exceeds the largest bucket {buckets[-1]}")
