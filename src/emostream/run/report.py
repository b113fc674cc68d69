"""What ``emostream run`` prints at the end: each session's summary and the sources that failed.

Kept apart from the process management in ``runner`` so that both can be read
(and tested) on their own: these are pure functions of the session summaries
and the lifecycle messages of the run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from emostream.aggregator.summary import frames_line, shares_text
from emostream.config import SourceConfig


def duration_text(summary: dict[str, Any]) -> str:
    """Media time and processing time as two figures: a file is usually analysed faster (or slower) than it plays.

    ``media_duration_s`` is the span of the source's own time line; ``duration_s``
    the wall-clock time from the first frame to the end. Summaries from before
    ``media_duration_s`` existed show the one figure they have.
    """
    media = summary.get("media_duration_s")
    if media is None:
        return f"{summary['duration_s']:.1f} s"
    return f"{media:.1f} s of video, processed in {summary['duration_s']:.1f} s"


def print_summary(summary: dict[str, Any], folder: Path, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    top = sorted(summary["emotions"]["share"].items(), key=lambda kv: -kv[1])
    print(file=out)
    print(f"Session {summary['session']} ({summary['source']}): {duration_text(summary)}, ended: {summary['end_reason']}", file=out)
    print(f"  {frames_line(summary['frames'])}; faces {summary['faces']}; tracks {summary['tracks']}", file=out)
    print("  emotion share: " + shares_text(top), file=out)
    for track in summary["track_summaries"]:
        print(f"  face #{track['track_id']}: {track['duration_s']:.1f} s, {track['faces']} faces, mostly {track['dominant']}", file=out)
    print(f"  summary: {folder / (summary['session'] + '.json')}", file=out)
    print(f"  timeline chart: {folder / (summary['session'] + '.timeline.png')}", file=out)
    out.flush()


def failed_sources(sources: Iterable[SourceConfig], started: set[str], summaries: Iterable[dict[str, Any]]) -> dict[str, str]:
    """File sources that failed, with why: never started a session (could not be opened), or ended on an error.

    Live sources are left out: a camera that is down is retried until the run is
    stopped, which is not a failure of the run.
    """
    failed: dict[str, str] = {}
    files = [src for src in sources if not src.is_live]
    for src in files:
        if src.id not in started:
            failed[src.id] = "could not be opened (see the error above)"
    file_ids = {src.id for src in files}
    for summary in summaries:
        if summary.get("source") in file_ids and summary.get("end_reason") == "error":
            failed[summary["source"]] = f"failed while reading (session {summary['session']}; see the error above)"
    return failed


def print_failed(failed: dict[str, str], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    print(file=out)
    print(f"Failed source(s): {len(failed)}", file=out)
    for source, why in sorted(failed.items()):
        print(f"  {source}: {why}", file=out)
    out.flush()
