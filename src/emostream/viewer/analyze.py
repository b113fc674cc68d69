"""``emostream analyze``: faces and emotions in images, folders of images and video files.

Writes an annotated copy of every input (box, emotion label and the seven
probability bars per face; ``--blur`` blurs the faces too) and one JSON line
per face to ``detections.jsonl``, and prints one line per face (file, frame,
face, emotion, confidence), or ``<file>: no face`` for an input in which it
finds none. Runs in-process: no Redis, no workers.

A face is reported only if it passes the same second look the pipeline gives
every new track before publishing it (``detector.check``,
:mod:`emostream.detector.check`): the detector alone takes clouds, galaxies
and textures for faces. An input whose candidates were refused says how many.

Images and video frames larger than ``--max-pixels`` (default
``ingest.max_frame_pixels``) are refused before they are decoded: an image's
size is read from its header (any format OpenCV reads, see ``headers``), a
video's from its stream parameters, so a small file claiming a huge picture
cannot exhaust memory. The refused input
is reported and the others are analysed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from emostream.infra.emotions import EMOTIONS
from emostream.viewer.headers import limit_opencv_pixels, picture_size
from emostream.viewer.inputs import DEFAULT_MAX_PIXELS, AnalyzeError, Input, check_pixels, collect_inputs

log = logging.getLogger(__name__)

class FaceAnalyzer:
    """Detector, model card and model, built once for the whole run."""

    def __init__(self, config: Any, model: str | None = None, fmt: str | None = None) -> None:
        from emostream.classifier.runtime import load_runtime
        from emostream.detector import make_check, make_detector
        from emostream.infra.modelcard import load_card, with_prior_tau

        self.config = config
        self.card = with_prior_tau(load_card(model or config.classifier.model or None), config.classifier.prior_tau)
        self.detector = make_detector(config.detector)
        self.check = make_check(config.detector)  # None with detector.check off
        self.refused = 0  # candidates the check turned down since the caller last reset this
        cfg = config.classifier
        self.runtime = load_runtime(
            self.card, fmt or cfg.format, batch_max=16, threads=cfg.threads, backend=cfg.backend, gpu_memory_fraction=cfg.gpu_memory_fraction
        )

    def faces(self, frame_bgr: np.ndarray) -> list[tuple[Any, np.ndarray]]:
        """(detection, probabilities) for each big-enough face that passes the check, one forward pass per frame."""
        from emostream.detector.crop import crop_detection

        det_cfg = self.config.detector
        detections = [d for d in self.detector.detect(frame_bgr) if min(d.w, d.h) >= det_cfg.min_face_px]
        if self.check is not None:
            passed = [d for d in detections if self.check.passes(frame_bgr, d, "bgr")]
            self.refused += len(detections) - len(passed)
            detections = passed
        if not detections:
            return []
        crops = np.stack([crop_detection(frame_bgr, d, self.card, det_cfg) for d in detections])
        return list(zip(detections, self.runtime.predict(crops), strict=True))

    def close(self) -> None:
        self.detector.close()
        self.runtime.close()


def _record(item: Input, frame: int | None, pts: float | None, detection: Any, probs: np.ndarray, model: str) -> dict[str, Any]:
    best = int(np.argmax(probs))
    return {
        "file": str(item.path),
        "frame": frame,
        "pts": None if pts is None else round(pts, 4),
        "box": {"x": detection.x, "y": detection.y, "w": detection.w, "h": detection.h},
        "score": round(detection.score, 4),
        "emotion": EMOTIONS[best],
        "confidence": round(float(probs[best]), 4),
        "probabilities": {e: round(float(p), 4) for e, p in zip(EMOTIONS, probs, strict=True)},
        "model": model,
    }


def _labels(found: list[tuple[Any, np.ndarray]]) -> list[Any]:
    from emostream.viewer.annotate import FaceLabel

    return [FaceLabel(d.box, dict(zip(EMOTIONS, map(float, p), strict=True))) for d, p in found]


def analyze_image(item: Input, analyzer: FaceAnalyzer, out_dir: Path, blur: bool, max_pixels: int) -> Iterator[dict[str, Any]]:
    import cv2

    from emostream.viewer.annotate import annotate

    size = picture_size(item.path)
    if size is not None:
        check_pixels(item.path, *size, max_pixels)
    try:
        frame = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV's own pixel limit (see viewer.headers), for a header none of ours could read
        if "CV_IO_MAX_IMAGE" not in str(exc):
            raise AnalyzeError(f"{item.path}: not a readable image") from None
        raise AnalyzeError(f"{item.path}: image is over the limit of {max_pixels / 1e6:.1f} MP (--max-pixels or ingest.max_frame_pixels)") from None
    if frame is None:
        raise AnalyzeError(f"{item.path}: not a readable image")
    check_pixels(item.path, frame.shape[1], frame.shape[0], max_pixels)  # a header Pillow could not read
    found = analyzer.faces(frame)
    target = out_dir / item.relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(target), annotate(frame, _labels(found), blur=blur)):
        raise AnalyzeError(f"{target}: could not write the annotated image")
    for detection, probs in found:
        yield _record(item, None, None, detection, probs, analyzer.card.label)


def analyze_video(
    item: Input, analyzer: FaceAnalyzer, out_dir: Path, blur: bool, every_nth: int = 1, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[dict[str, Any]]:
    """Annotate every frame (faces found on every ``every_nth`` frame are drawn until the next)."""
    import av

    from emostream.viewer.annotate import annotate
    from emostream.viewer.progress import Progress

    try:
        source = av.open(str(item.path))
    except av.error.FFmpegError as exc:
        raise AnalyzeError(f"{item.path}: cannot open as video ({exc})") from None
    if not source.streams.video:
        source.close()
        raise AnalyzeError(f"{item.path}: has no video stream")
    stream = source.streams.video[0]
    try:
        check_pixels(item.path, stream.codec_context.width, stream.codec_context.height, max_pixels, "the video")
    except AnalyzeError:
        source.close()
        raise
    stream.thread_type = "AUTO"
    target = (out_dir / item.relative).with_suffix(".mp4")
    target.parent.mkdir(parents=True, exist_ok=True)
    sink = av.open(str(target), mode="w")
    rate = stream.average_rate or 25
    out = sink.add_stream("libx264", rate=rate)
    out.width, out.height = stream.codec_context.width // 2 * 2, stream.codec_context.height // 2 * 2
    out.pix_fmt = "yuv420p"
    out.options = {"crf": "23", "preset": "veryfast"}
    progress = Progress(stream.frames or None, f"{item.path.name}")
    labels: list[Any] = []
    try:
        for index, frame in enumerate(source.decode(stream)):
            check_pixels(item.path, frame.width, frame.height, max_pixels, f"frame {index}")  # the size may change mid-stream
            image = frame.to_ndarray(format="bgr24")[: out.height, : out.width]
            if index % every_nth == 0:
                found = analyzer.faces(image)
                labels = _labels(found)
                pts = float(frame.time) if frame.time is not None else index / float(rate)
                for detection, probs in found:
                    yield _record(item, index, pts, detection, probs, analyzer.card.label)
            drawn = annotate(image, labels, blur=blur)
            for packet in out.encode(av.VideoFrame.from_ndarray(drawn, format="bgr24")):
                sink.mux(packet)
            progress.update()
        for packet in out.encode():
            sink.mux(packet)
    except av.error.FFmpegError as exc:
        raise AnalyzeError(f"{item.path}: video is corrupt or truncated ({exc})") from None
    finally:
        progress.close()
        sink.close()
        source.close()


def face_line(record: dict[str, Any], face: int) -> str:
    """What ``analyze`` prints per face: file, frame (videos), face number, emotion and confidence."""
    where = record["file"] if record["frame"] is None else f"{record['file']} frame {record['frame']}"
    return f"{where} face {face}: {record['emotion']} {record['confidence']:.2f}"


def _candidates(count: int) -> str:
    return f"{count} candidate" + ("" if count == 1 else "s")


def input_line(path: Path, found: bool, refused: int) -> str:
    """The line for an input with no face, or whose candidates the face check turned down: ``<file>: no face (2 candidates refused ...)``."""
    if not refused:
        return f"{path}: no face"
    why = f"{_candidates(refused)} refused by the face check"
    return f"{path}: {why}" if found else f"{path}: no face ({why})"


def run(paths: list[Path], out_dir: Path, config: Any, blur: bool = False, every_nth: int = 1, model: str | None = None,
        out: TextIO = sys.stdout, max_pixels: int | None = None) -> tuple[int, int, list[str]]:
    """Analyse everything; returns (inputs done, faces found, errors). A bad input never stops the others."""
    limit = max_pixels or config.ingest.max_frame_pixels
    inputs = collect_inputs(paths)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        jsonl = open(out_dir / "detections.jsonl", "w")  # noqa: SIM115 (closed below, after the analyzer)
    except OSError as exc:
        raise AnalyzeError(f"cannot write to the output folder {out_dir}: {exc.strerror or exc}") from None
    analyzer = FaceAnalyzer(config, model)
    done, faces, refused, errors = 0, 0, 0, []
    try:
        for item in inputs:
            try:
                records = analyze_image(item, analyzer, out_dir, blur, limit) if item.kind == "image" else analyze_video(
                    item, analyzer, out_dir, blur, every_nth, limit
                )
                per_frame: dict[int | None, int] = {}
                analyzer.refused = 0
                for record in records:
                    jsonl.write(json.dumps(record) + "\n")
                    faces += 1
                    per_frame[record["frame"]] = per_frame.get(record["frame"], 0) + 1
                    print(face_line(record, per_frame[record["frame"]]), file=out)
                refused += analyzer.refused
                if not per_frame or analyzer.refused:  # every input gets a line: silence would read as "not looked at"
                    print(input_line(item.path, bool(per_frame), analyzer.refused), file=out)
                done += 1
            except AnalyzeError as exc:
                errors.append(str(exc))
                log.error("%s", exc)
            except OSError as exc:  # e.g. an annotated copy that cannot be written
                errors.append(f"{item.path}: {exc}")
                log.error("%s: %s", item.path, exc)
    finally:
        jsonl.close()
        analyzer.close()
    checked = f" ({_candidates(refused)} refused by the face check)" if refused else ""
    print(f"analysed {done} of {len(inputs)} input(s): {faces} face(s){checked}; annotated copies and detections.jsonl in {out_dir}", file=out)
    return done, faces, errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, help="images, videos, or folders of them (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("analyzed"), help="output folder (default %(default)s)")
    parser.add_argument("--blur", action="store_true", help="blur the faces in the annotated copies")
    parser.add_argument("--every-nth", type=int, default=1, help="videos: detect and classify every n-th frame (default %(default)s)")
    parser.add_argument("--model", help="model folder or packaged model name (default: the configured one)")
    parser.add_argument("--detector", choices=("yunet", "mediapipe", "blazeface", "haar"), help="face detector (default: the configured one)")
    parser.add_argument(
        "--no-check", action="store_true", help="report every detection, without the face check new tracks pass before they are published"
    )
    parser.add_argument(
        "--max-pixels", type=int, help="refuse images and video frames with more pixels than this (default: ingest.max_frame_pixels)"
    )


def main(args: argparse.Namespace) -> int:
    from emostream.config import load_config

    config = load_config(Path(args.config) if getattr(args, "config", None) else None)
    if args.detector or args.no_check:
        change = {"backend": args.detector or config.detector.backend, "check": config.detector.check and not args.no_check}
        config = config.model_copy(update={"detector": config.detector.model_copy(update=change)})
    if args.every_nth < 1:
        print("emostream analyze: --every-nth must be at least 1", file=sys.stderr)
        return 2
    if args.max_pixels is not None and args.max_pixels < 1:
        print("emostream analyze: --max-pixels must be at least 1", file=sys.stderr)
        return 2
    limit_opencv_pixels(args.max_pixels or config.ingest.max_frame_pixels)  # before anything loads cv2
    try:
        _, _, errors = run(args.paths, args.out, config, args.blur, args.every_nth, args.model, max_pixels=args.max_pixels)
    except AnalyzeError as exc:
        print(f"emostream analyze: {exc}", file=sys.stderr)
        return 2
    return 1 if errors else 0
