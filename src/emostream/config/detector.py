"""The ``detector`` section: which face detector, its thresholds, how often it runs, and the check on new faces."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from emostream.config.base import Section


class DetectorConfig(Section):
    backend: Literal["yunet", "mediapipe", "blazeface", "haar"] = Field(
        "yunet",
        description="Face detector: YuNet through ONNX Runtime (yunet, the default: one pass on the frame at its own resolution, "
        "faces from about 10 px to the whole frame, docs/decisions.md), the BlazeFace models served straight through LiteRT "
        "(blazeface: the `range` switch; range short is the cheapest detector for selfie-distance webcams), BlazeFace through "
        "MediaPipe Tasks (mediapipe, the reference), or OpenCV's Haar cascade.",
    )
    mediapipe_model: Literal["short", "full"] = Field(
        "short", description="backend mediapipe: BlazeFace short-range (<2 m) or full-range (<5 m)."
    )
    range: Literal["auto", "short", "full"] = Field(
        "auto",
        description="backend blazeface: which faces to look for. auto: cameras in rooms, shops and lobbies, faces from about 48 px "
        "to the whole frame (short range on the whole frame plus full range on the whole frame, or on tiles of tile_px in larger "
        "frames, merged; 3 to 5 times short's cost; the default). short: selfie-distance webcams (people within ~2 m), faces from "
        "about 0.15 of the frame's longer "
        "side (96 px in 640x480), one pass. full: the full-range model alone on the whole frame.",
    )
    tile_px: int = Field(
        480,
        ge=192,
        le=4096,
        description="backend blazeface, range auto: frames longer than this are covered by overlapping squares of this many pixels "
        "for the full-range pass (640x480: two, 1280x720: eight), so distant faces keep their size in the model's input. 480 (the "
        "default) finds faces down to about 32 px; 720 (two tiles of 1280x720, none at 640x480) costs 1.6 times less detection at "
        "640x480 and 3.4 times less at 1280x720 but misses more faces under 64 px.",
    )
    min_score: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Minimum detection score; unset: the backend's own (yunet 0.6, blazeface and mediapipe 0.5). Scores of "
        "different detectors are not on one scale.",
    )
    landmarks: Literal["blazeface", "yunet"] = Field(
        "blazeface",
        description="backend yunet: whose keypoints a face gets (they turn its crop upright and feed the check). blazeface: "
        "BlazeFace short range on an upright close-up of each face, ~1.5 ms per face per detection (YuNet's own landmarks "
        "under-read a head's roll, a 30° turn as 15-20° on some faces); yunet: YuNet's, free.",
    )
    max_side: int = Field(
        1920,
        ge=0,
        description="backend yunet: frames whose longer side exceeds this are scaled down to it first (YuNet's cost grows with "
        "the pixels: ~15 ms per 640x480 frame on one core, ~4x that at 1280x720); the smallest face found shrinks by the same "
        "factor. 0: always the frame as it comes.",
    )
    interval: int = Field(
        3,
        ge=1,
        le=30,
        description="Ingest: run the detector on every interval-th analysed frame only, counted from the last scheduled (or "
        "on_change) detection frame; on_lost's detections leave the count as it is (1: every frame). On the frames "
        "between, each confirmed track published on the frame before is carried: its box predicted by motion, found "
        "again by correlating its face's patch near the prediction and checked against the track's appearance; a "
        "carried box is that frame's face (one event, as a detected one), a track that fails, or whose box crosses "
        "another's, is not published until a detection finds it again (with on_lost, one run on that very frame). New "
        "faces are published from the next detection frame (up to interval - 1 frames later; see on_lost and "
        "on_change). 3 (the default) takes about half of ingest's CPU per frame off at 640x480; 1: detect every frame.",
    )
    on_lost: bool = Field(
        True,
        description="interval > 1: detect on a frame where a face published on the frame before could not be carried (a person "
        "replaced in place, a fast turn, faces crossing): the newcomer is published from that frame, not up to interval - 1 frames "
        "later (the scheduled detection frames stay where they were). Costs a detection only on such frames: a still or "
        "steadily moving face is carried as before (docs/decisions.md).",
    )
    on_change: bool = Field(
        False,
        description="interval > 1: also detect on a frame where something changed away from the faces already followed "
        "(a thumbnail of 8 px cells against the previous frame's), so a person who appears is published from that frame, not "
        "up to interval - 1 frames later. Off by default: a moving scene (a panning camera, the demo clip) detects nearly "
        "every frame with it (640x480: 13.7 ms of detection a frame against 22.7 every frame, docs/decisions.md), while on the "
        "scene benchmark it gained 0.2 points of recall. For still cameras where arrivals matter.",
    )
    carry_match: float = Field(
        0.6,
        ge=0,
        le=1,
        description="interval > 1: the least normalised cross-correlation of a carried face's patch with the track's face on "
        "the last detection frame.",
    )
    min_face_px: int = Field(24, ge=4, description="Faces smaller than this (shorter box side, pixels) are skipped and counted.")
    check: bool = Field(
        True,
        description="Take a second look at each new track's face before it is published: its keypoints must have a face's layout, "
        "the short-range model must find a face in an upright close-up of it and the full-range model in a wide view around it. "
        "Stops face-like clouds, textures and pictures (the detector's own score cannot); costs ~3 ms (~13 ms where the close-up "
        "is not sure) once per new track, not per frame. Off: tracker.confirm_hits and confirm_score alone decide (raise confirm_hits to ~30 then).",
    )
    check_misfit: float = Field(
        0.08, gt=0, le=1, description="check: the largest misfit of the eyes, nose and mouth against a mean face's layout (face sides)."
    )
    check_close: float = Field(
        0.7, ge=0, le=1, description="check: the short-range model's least score on the upright close-up (and its mirror image, mean)."
    )
    check_close_alone: float = Field(
        0.8,
        ge=0,
        le=1.01,
        description="check: a close-up scoring at least this passes without the wide view (which costs three times as much); "
        "between check_close and this, the wide view decides. Above 1: the wide view always decides.",
    )
    check_vouched: float | None = Field(
        None,
        ge=0,
        le=1.01,
        description="check: a candidate the detector itself scores at least this passes on a close-up of 0.5 (two detectors "
        "agreeing, each moderately sure) with a layout misfit up to 0.10; scored 0.8 or more, on a blurred close-up of 0.4 "
        "where the wide view scores 0.35. Unset: the backend's own (yunet 0.75, the others off). Above 1: off.",
    )
    check_low: float = Field(
        0.75,
        ge=0,
        le=1.01,
        description="check: a detection scoring under min_score (down to tracker.low_score; YuNet and BlazeFace) may start a "
        "track when its close-up scores at least this and its wide view check_wide, both (no shortcut, no vouching): the "
        "detector's doubt made up by the two other looks, for faces rolled 30°, in a hand or in the dark. Above 1: such "
        "detections only continue tracks (ByteTrack's second pass).",
    )
    check_wide: float = Field(
        0.3,
        ge=0,
        le=1,
        description="check: the full-range model's least score on the wide view, six box sides or the frame's longer side (and "
        "its mirror image, mean), where the close-up scored under check_close_alone.",
    )
    check_mirror: bool = Field(
        True,
        description="check: score each view and its mirror image (mean); off: the view alone, half the check's inferences.",
    )
    upright: bool = Field(
        True,
        description="Where the detector gives keypoints (YuNet and BlazeFace, either backend: all but Haar), turn each face's crop so the face stands "
        "upright and frame it as FER2013 faces are (brows to chin), in one warp from the frame; off: the box crop below.",
    )
    upright_keep_deg: float = Field(
        0.0,
        ge=0,
        le=45,
        description="Upright crops: tilts up to this many degrees are left as they are and larger ones are turned back to it "
        "(FER2013's own faces lean up to ~12°; 8 trades roll robustness for upright faces, see docs/decisions.md); 0: every "
        "face levelled.",
    )
    margin: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Margin added around each box before cropping, as a fraction of its size (the box crop: Haar, or upright off).",
    )
