"""A decoded frame, converted to pixels only when someone asks for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Colour = Literal["bgr", "rgb"]


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
                image = self.raw.to_ndarray(format=f"{colour}24")
            self._pixels[colour] = image
        return image

    @property
    def image(self) -> np.ndarray:
        """BGR pixels (OpenCV's order), for callers that do not ask for a colour."""
        return self.pixels("bgr")
