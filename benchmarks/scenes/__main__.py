"""``python -m benchmarks.scenes``: generate the clips, run one split end to end, or the detector alone.

    python -m benchmarks.scenes --generate                      # make build/scenes/{tune,test,fresh}
    python -m benchmarks.scenes --detector-only --split tune    # recall / false faces of the detector, seconds
    python -m benchmarks.scenes --split tune [--config FILE]    # the whole pipeline, as the benchmark section
    python -m benchmarks.scenes --split tune --only swap_gray,faceless_text   # some clips only (names: see build/scenes)

The detector-only mode builds the detector from ``--config`` and ``EMOSTREAM_DETECTOR__*``
variables, so a setting can be swept without editing the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.markdown import num, table
from benchmarks.scenes.evaluate import BANDS, Score
from benchmarks.scenes.faces import SPLITS
from benchmarks.scenes.generate import ensure


def clips(split: str, only: str | None) -> list[Path]:
    """The split's clips, or those whose name is in the comma-separated ``only``."""
    paths = ensure(split)
    if not only:
        return paths
    wanted = set(only.split(","))
    unknown = wanted - {p.stem for p in paths}
    if unknown:
        raise SystemExit(f"no such clip in split {split}: {', '.join(sorted(unknown))}")
    return [p for p in paths if p.stem in wanted]


def detector_only(split: str, config: Path | None, only: str | None = None) -> str:
    from benchmarks.scenes.detect import detect_all
    from benchmarks.scenes.realmedia import detect_photos

    results = detect_all(clips(split, only), config)
    rows, faceless, minutes = [], 0, 0.0
    for name, (score, fps) in results.items():
        if not sum(score.faces.values()):
            faceless += score.false_faces
            minutes += score.seconds / 60
        rows.append([name, *(num(score.recall(lo, hi - 1), 3) for lo, hi in BANDS), score.false_faces, num(fps)])
    total = Score()
    for score, _ in results.values():
        total = total.merge(score)
    lines = [
        table(["clip", *(f"recall {lo}-{hi - 1}" for lo, hi in BANDS), "false faces", "detector frames/s"], rows), "",
        f"recall ≥ 32 px {num(total.recall(32), 3)}, ≥ 64 px {num(total.recall(64), 3)}; "
        f"faceless: {faceless} false faces in {minutes:.1f} min ({faceless / minutes * 10 if minutes else 0:.1f} per 10 min)", "",
        table(["photo", "frame", "face width px", "faces", "found", "false faces"], detect_photos(config)),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scenes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=sorted(SPLITS), default="tune")
    parser.add_argument("--generate", action="store_true", help="only make the clips of every split (or of --split when given)")
    parser.add_argument("--detector-only", action="store_true", help="frames -> emostream.detector -> boxes; no Redis")
    parser.add_argument("--config", type=Path, help="configuration file for the detector or the pipeline (default: built-in defaults)")
    parser.add_argument("--only", help="comma-separated clip names (file stems): run just these")
    args = parser.parse_args(argv)
    if args.generate:
        for split in ([args.split] if "--split" in (argv or sys.argv) else sorted(SPLITS)):
            print(f"{split}: {len(ensure(split))} clips in {ensure(split)[0].parent}")
        return 0
    if args.detector_only:
        print(detector_only(args.split, args.config, args.only))
        return 0
    import yaml

    from benchmarks.scenes.measure import measure_split
    from benchmarks.scenes.report import split_section

    config = yaml.safe_load(args.config.read_text()) if args.config else None
    print(split_section(measure_split(args.split, clips(args.split, args.only), config=config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
