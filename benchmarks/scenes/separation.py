"""How far the face check's close-up score keeps faces from false boxes, with the mirror image and without.

    PYTHONPATH=src:. python -m benchmarks.scenes.separation --split tune [--every 3]

Every ``every``-th frame of each clip is detected (the default detector, boxes
of at least ``min_face_px`` at ``min_score``); each box whose keypoints fit a
face's layout (the check's first look) is scored by the short-range model on
its upright close-up, once as the view alone and once as the mean of the view
and its mirror image (``detector.check_mirror``). A box is a face when its
centre lies in a ground-truth face of that frame, false when its clip has no
faces; other boxes are left out. Printed: per way of scoring, the highest
false box's score and the shares of false boxes and faces at the check's
thresholds (``check_close`` fails below, ``check_close_alone`` passes at once).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from benchmarks.scenes.__main__ import clips
from benchmarks.scenes.detect import decode
from benchmarks.scenes.generate import load_truth


def _inside(box: tuple[int, int, int, int], faces: list[dict[str, Any]]) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return any(f["box"][0] <= cx <= f["box"][0] + f["box"][2] and f["box"][1] <= cy <= f["box"][1] + f["box"][3] for f in faces)


def main() -> int:
    from emostream.config import load_config
    from emostream.detector import make_detector
    from emostream.detector.check import CLOSE, FaceCheck, misfit

    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="tune")
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--only")
    args = parser.parse_args()
    cfg = load_config(None).detector
    both, alone = FaceCheck(mirror=True), FaceCheck(mirror=False)
    scores: dict[str, dict[str, list[float]]] = {"faces": {"mirror": [], "alone": []}, "false": {"mirror": [], "alone": []}}
    with make_detector(cfg) as detector:
        for path in clips(args.split, args.only):
            meta = load_truth(path)
            for f, rgb in enumerate(decode(path)):
                if f % args.every:
                    continue
                image = rgb if detector.colour == "rgb" else np.ascontiguousarray(rgb[:, :, ::-1])
                for d in detector.detect_native(image):
                    if min(d.w, d.h) < cfg.min_face_px or d.keypoints is None or misfit(d.keypoints) > cfg.check_misfit:
                        continue
                    kind = "false" if meta["faceless"] else "faces" if _inside(d.box, meta["faces"][f]) else None
                    if kind is not None:
                        scores[kind]["mirror"].append(both.view_score(both.short, image, d, CLOSE, detector.colour))
                        scores[kind]["alone"].append(alone.view_score(alone.short, image, d, CLOSE, detector.colour))
    low, high = cfg.check_close, cfg.check_close_alone
    for way in ("mirror", "alone"):
        faces, false = np.asarray(scores["faces"][way]), np.asarray(scores["false"][way])
        print(f"{way}: {len(false)} false boxes, highest {false.max(initial=0):.3f}, >= {low}: {(false >= low).sum()}, >= {high}: "
              f"{(false >= high).sum()}; {len(faces)} faces, < {low}: {(faces < low).mean():.3f}, >= {high}: {(faces >= high).mean():.3f}, "
              f"median {np.median(faces) if len(faces) else 0:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
