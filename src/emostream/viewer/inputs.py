"""What ``emostream analyze`` reads: images and videos from files and folders, refused above a pixel limit before decoding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_MAX_PIXELS = 100_000_000  # as ingest.max_frame_pixels
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts"}


class AnalyzeError(ValueError):
    """An input that cannot be analysed; the message names it."""


def check_pixels(path: Path, width: int, height: int, max_pixels: int, what: str = "image") -> None:
    """Refuse a picture over the limit, naming both sizes and the setting that raises it."""
    if width * height > max_pixels:
        raise AnalyzeError(
            f"{path}: {what} is {width}x{height} ({width * height / 1e6:.1f} MP), over the limit of {max_pixels / 1e6:.1f} MP "
            "(--max-pixels or ingest.max_frame_pixels)"
        )


@dataclass(frozen=True)
class Input:
    path: Path
    kind: str  # "image" or "video"
    relative: Path  # where its outputs go, under the output folder


def collect_inputs(paths: list[Path]) -> list[Input]:
    """Images and videos from files and (recursively) folders; other files in folders are skipped."""
    found: list[Input] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                kind = _kind(file)
                if kind:
                    found.append(Input(file, kind, Path(path.name) / file.relative_to(path)))
        elif path.is_file():
            kind = _kind(path)
            if kind is None:
                raise AnalyzeError(f"{path}: not an image or video file this command knows ({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
            found.append(Input(path, kind, Path(path.name)))
        else:
            raise AnalyzeError(f"{path}: no such file or folder")
    return found


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None
