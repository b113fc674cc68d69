"""A decoded frame, converted to pixels only when someone asks for them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Colour = Literal["bgr", "rgb"]

_converters = threading.local()


def convert(raw: Any, colour: Colour) -> np.ndarray:
    """A PyAV frame as uint8 (H, W, 3) in ``colour``, through this thread's own swscale context.

    ``VideoFrame.to_ndarray(format=...)`` builds a new scaler for every frame,
    and with PyAV's default of automatic threads a new pool of slice threads
    too: the stage profile measured that at about five times the conversion's
    own cost in wall time (docs/decisions.md, issue 25). One context per thread
    is reused across frames (swscale sets itself up again when the size or
    format changes) and converts on the calling thread alone: ingest already
    runs one thread per source, so extra threads only compete for the same cores.
    """
    from av.video.frame import VideoFrame
    from av.video.reformatter import VideoReformatter

    if not isinstance(raw, VideoFrame):  # anything else that converts itself (the unit tests' stand-in pictures)
        converted: np.ndarray = raw.to_ndarray(format=f"{colour}24")
        return converted
    reformatter = getattr(_converters, "reformatter", None)
    if reformatter is None:
        reformatter = _converters.reformatter = VideoReformatter()
    array: np.ndarray = reformatter.reformat(raw, format=f"{colour}24", threads=1).to_ndarray()
    return array


@dataclass(frozen=True)
class Frame:
    """A decoded frame whose pixels are produced only when someone asks, in the order they ask for.

    A live source decodes far more frames than it analyses (the pacer keeps
    the newest, a file's ``every_nth`` skips the rest), so converting every
    decoded picture to an array would be work thrown away. ``raw`` is the
    decoder's own frame (a PyAV ``VideoFrame``, converted by FFmpeg's swscale
    straight from YUV to the colour wanted) or an array OpenCV already made
    (BGR). Conversions are cached: the detector's colour and the preview's
    BGR are each made at most once.
    """

    raw: Any  # av.VideoFrame, or an (H, W, 3) uint8 array in ``raw_colour``
    pts: float  # seconds in the source's own time line
    index: int  # decoded-frame counter of this connection
    captured_ts: float  # wall clock when decoding finished
    decode_s: float  # time spent reading and decoding this frame (not converting it)
    raw_colour: Colour = "bgr"
    _pixels: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    def pixels(self, colour: Colour = "bgr") -> np.ndarray:
        """uint8 (H, W, 3) in ``colour``; made on the first call for that colour."""
        image = self._pixels.get(colour)
        if image is None:
            if isinstance(self.raw, np.ndarray):
                image = self.raw if colour == self.raw_colour else np.ascontiguousarray(self.raw[:, :, ::-1])
            else:
                image = convert(self.raw, colour)
            self._pixels[colour] = image
        return image

    @property
    def image(self) -> np.ndarray:
        """BGR pixels (OpenCV's order), for callers that do not ask for a colour."""
        return self.pixels("bgr")
