"""The pieces of the LiteRT BlazeFace detector on small hand-made inputs: anchors, decoding, weighted NMS, views."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emostream.detector.anchors import FULL_RANGE, SHORT_RANGE, anchor_centres, block_sizes
from emostream.detector.decode import Decoded, decode, scores_from_logits
from emostream.detector.litert import per_frame
from emostream.detector.nms import weighted_nms
from emostream.detector.views import letterbox, tiles


def test_anchor_counts_match_the_models_outputs() -> None:
    assert anchor_centres(SHORT_RANGE).shape == (896, 2), "short range: 16x16 cells x 2 + 8x8 cells x 6"
    assert anchor_centres(FULL_RANGE).shape == (2304, 2), "full range: 48x48 cells x 1"


def test_short_range_anchors_run_row_major_with_repeats_per_cell() -> None:
    centres = anchor_centres(SHORT_RANGE)
    assert np.allclose(centres[0], [0.5 / 16, 0.5 / 16]) and np.allclose(centres[1], centres[0]), "two anchors in the first cell"
    assert np.allclose(centres[2], [1.5 / 16, 0.5 / 16]), "x moves fastest"
    assert np.allclose(centres[32], [0.5 / 16, 1.5 / 16]), "the second row starts after 16 cells of 2"
    assert np.allclose(centres[512:518], [0.5 / 8, 0.5 / 8]), "the stride-16 grid has six anchors per cell"
    assert np.allclose(centres[-1], [7.5 / 8, 7.5 / 8])


def test_decode_offsets_box_and_keypoints_from_the_anchor_in_input_pixels() -> None:
    anchors = np.array([[0.25, 0.5], [0.75, 0.75]], np.float32)
    regressors = np.zeros((2, 16), np.float32)
    regressors[0, :4] = [12.8, -6.4, 25.6, 12.8]  # centre +0.1, -0.05; size 0.2 x 0.1 of a 128 px input
    regressors[0, 4:6] = [-12.8, 0.0]  # right eye 0.1 left of the anchor
    logits = np.array([2.0, -3.0], np.float32)
    found = decode(regressors, logits, anchors, 128, min_score=0.5)
    assert len(found) == 1, "the anchor with a negative logit scores under 0.5"
    assert np.allclose(found.boxes[0], [0.25, 0.4, 0.45, 0.5])
    assert np.allclose(found.keypoints[0, 0], [0.15, 0.5]) and np.allclose(found.keypoints[0, 1], [0.25, 0.5])
    assert found.scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_scores_are_clipped_sigmoids_that_never_overflow() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's default overflow warning would fail the test
        scores = scores_from_logits(np.array([-1e30, -100.0, 0.0, 1e30], np.float32))
    assert scores[0] == scores[1] and scores[2] == 0.5 and scores[3] == pytest.approx(1.0)


def test_decode_drops_boxes_with_negative_size() -> None:
    regressors = np.zeros((1, 16), np.float32)
    regressors[0, 2:4] = [-5.0, 5.0]
    assert len(decode(regressors, np.array([5.0]), np.array([[0.5, 0.5]], np.float32), 128, 0.5)) == 0


def found(boxes: list[list[float]], scores: list[float]) -> Decoded:
    b = np.array(boxes, np.float32)
    keypoints = np.repeat(b[:, None, :2], 6, axis=1)  # every keypoint at the box's top-left corner
    return Decoded(b, keypoints, np.array(scores, np.float32))


def test_weighted_nms_averages_an_overlapping_group_by_score() -> None:
    merged = weighted_nms(found([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.6, 0.9, 0.7]), threshold=0.3)
    assert len(merged) == 2, "the two overlapping boxes are one face"
    assert np.allclose(merged.boxes[0], [0.6, 0.6, 10.6, 10.6]), "weights 0.9 and 0.6 pull the box towards the better one"
    assert np.allclose(merged.keypoints[0, 3], [0.6, 0.6]), "keypoints are averaged with the same weights"
    assert merged.scores.tolist() == pytest.approx([0.9, 0.7]), "the group keeps its best score; groups ordered by score"


def test_weighted_nms_keeps_boxes_that_overlap_only_at_or_under_the_threshold() -> None:
    # IoU of [0,0,10,10] and [5,0,15,10] is 50/150 = 1/3
    assert len(weighted_nms(found([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8]), threshold=0.34)) == 2
    assert len(weighted_nms(found([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8]), threshold=0.33)) == 1


def test_weighted_nms_measures_overlap_against_the_best_box_not_the_running_average() -> None:
    # b overlaps a (IoU 0.54); c overlaps b but not a, so c is a face of its own although it touches the averaged group
    boxes = [[0, 0, 10, 10], [3, 0, 13, 10], [9, 0, 19, 10]]
    merged = weighted_nms(found(boxes, [0.9, 0.8, 0.7]), threshold=0.3)
    assert len(merged) == 2 and merged.scores.tolist() == pytest.approx([0.9, 0.7])


def test_letterbox_centres_the_frame_in_a_square_of_its_longer_side() -> None:
    view = letterbox(640, 480)
    assert (view.x0, view.y0, view.side) == (0.0, -80.0, 640.0)
    assert np.allclose(view.affine(128) @ [640, 400, 1], [128, 96]), "the bottom-right corner lands 16 px above the input's edge"
    assert np.allclose(view.to_frame(np.array([[0.5, 0.5]])), [[320, 240]])


def test_tiles_cover_a_wide_frame_with_overlap_and_mark_shared_edges() -> None:
    views = tiles(1280, 720, 720)
    assert [(v.x0, v.y0, v.side) for v in views] == [(0.0, 0.0, 720.0), (560.0, 0.0, 720.0)], "two tiles, 160 px overlap"
    assert views[0].inner == (False, False, True, False) and views[1].inner == (True, False, False, False)
    assert tiles(640, 480, 720) == [letterbox(640, 480)], "a frame that fits is one letterboxed view"
    assert len(tiles(1920, 1080, 720)) == 8, "1080p: four columns (a seam overlaps by 240 px or more), two rows"


def test_a_tile_leaves_a_face_cut_by_its_shared_edge_to_its_neighbour() -> None:
    left = tiles(1280, 720, 720)[0]
    boxes = np.array([[600, 100, 700, 200], [700, 100, 760, 160]], np.float64)
    assert left.sees_whole(boxes).tolist() == [True, False], "the second box crosses x=720 by more than the slack"


def test_a_batched_output_is_split_grid_by_grid_into_frames() -> None:
    assert block_sizes(SHORT_RANGE) == [512, 384] and block_sizes(FULL_RANGE) == [2304]
    # two frames, grids of 2 and 1 anchors: rows are grid 1 of frame 0, of frame 1, then grid 2 of frame 0, of frame 1
    output = np.array([[[0], [1], [10], [11], [2], [12]]], np.float32)
    assert per_frame(output, 2, [2, 1])[:, :, 0].tolist() == [[0, 1, 2], [10, 11, 12]]
