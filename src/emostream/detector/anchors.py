"""SSD anchor centres for the two BlazeFace models, as MediaPipe's face detection graphs configure them.

MediaPipe's ``SsdAnchorsCalculator`` lays one grid per stride over the model
input; consecutive layers with the same stride share one grid, and each of
those layers adds one anchor per aspect ratio (BlazeFace: ratio 1) plus one
"interpolated" anchor when ``interpolated_scale_aspect_ratio`` > 0. BlazeFace
uses ``fixed_anchor_size``: every anchor is 1 x 1 in normalised units, so the
regressors are plain offsets and sizes and only the centres matter here.

Short range (128 x 128): strides 8, 16, 16, 16 with interpolation, so a 16 x 16
grid of 2 anchors then an 8 x 8 grid of 6: 512 + 384 = 896.
Full range (192 x 192): stride 4, no interpolation: a 48 x 48 grid of 1: 2304.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AnchorSpec:
    input_size: int  # square model input, pixels
    strides: tuple[int, ...]  # one per SSD layer
    interpolated: bool  # an extra anchor per layer (interpolated_scale_aspect_ratio > 0)
    offset: float = 0.5  # anchor_offset_x / _y: the centre of each grid cell


SHORT_RANGE = AnchorSpec(input_size=128, strides=(8, 16, 16, 16), interpolated=True)
FULL_RANGE = AnchorSpec(input_size=192, strides=(4,), interpolated=False)


def anchors_per_cell(spec: AnchorSpec, first_layer: int) -> tuple[int, int]:
    """(anchors per grid cell, index of the next layer) for the run of layers sharing ``first_layer``'s stride."""
    last = first_layer
    count = 0
    while last < len(spec.strides) and spec.strides[last] == spec.strides[first_layer]:
        count += 1 + int(spec.interpolated)  # one aspect ratio (1.0), plus the interpolated anchor
        last += 1
    return count, last


def block_sizes(spec: AnchorSpec) -> list[int]:
    """Anchors per grid (run of layers sharing a stride), in output order: short range 512, 384; full range 2304.

    The models reshape each grid's head to (1, anchors, values) and
    concatenate the grids, so with a batch of B frames the output holds B x 512
    rows of the first grid, frame after frame, then B x 384 of the second.
    """
    sizes = []
    layer = 0
    while layer < len(spec.strides):
        per_cell, layer_next = anchors_per_cell(spec, layer)
        sizes.append(math.ceil(spec.input_size / spec.strides[layer]) ** 2 * per_cell)
        layer = layer_next
    return sizes


def anchor_centres(spec: AnchorSpec) -> np.ndarray:
    """(N, 2) float32 anchor centres (x, y) in 0..1 of the model input, in the order the model's outputs use."""
    blocks = []
    layer = 0
    while layer < len(spec.strides):
        per_cell, layer_next = anchors_per_cell(spec, layer)
        cells = math.ceil(spec.input_size / spec.strides[layer])
        centres = (np.arange(cells, dtype=np.float32) + spec.offset) / cells
        ys, xs = np.meshgrid(centres, centres, indexing="ij")  # row-major: y outer, x inner, as the calculator loops
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        blocks.append(np.repeat(grid, per_cell, axis=0))
        layer = layer_next
    return np.concatenate(blocks).astype(np.float32)
