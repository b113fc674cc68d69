"""Colour conversion through one reused swscale context per thread gives PyAV's own pixels, whatever the size or colour."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np

from emostream.ingest.frame import Frame, convert


def test_the_reused_context_converts_exactly_like_pyav_across_colours_and_sizes(demo_clip: Path) -> None:
    with av.open(str(demo_clip)) as container:
        frames = [f for _, f in zip(range(5), container.decode(video=0), strict=False)]
    small = frames[1].reformat(width=320, height=180)  # a size change mid-stream: the context sets itself up again
    for raw, colour in [(frames[0], "rgb"), (frames[2], "bgr"), (small, "rgb"), (frames[3], "rgb"), (small, "bgr")]:
        expected = raw.to_ndarray(format=f"{colour}24")
        got = convert(raw, colour)
        assert got.shape == expected.shape and np.array_equal(got, expected), (colour, raw.width)
    frame = Frame(frames[4], 0.0, 4, 0.0, 0.0)
    assert np.array_equal(frame.pixels("rgb"), frame.pixels("bgr")[:, :, ::-1]), "both colours of one frame agree"


def test_each_thread_converts_with_its_own_context(demo_clip: Path) -> None:
    with av.open(str(demo_clip)) as container:
        frames = [f for _, f in zip(range(20), container.decode(video=0), strict=False)]
    expected = [f.to_ndarray(format="rgb24") for f in frames]
    results: dict[int, list[bool]] = {}

    def work(k: int) -> None:  # two threads at once, one converting to the other colour in between
        results[k] = [np.array_equal(convert(f, "rgb"), e) and convert(f, "bgr").shape == e.shape for f, e in zip(frames, expected, strict=True)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {0: [True] * 20, 1: [True] * 20}
