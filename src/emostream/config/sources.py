"""The ``sources[]`` items: one video source each, and how its URL and credentials resolve.

What kind of source a URL names (and so whether it is live by default) is decided
here, where the configuration needs it; ingest opens sources by the same rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from emostream.config.base import Section
from emostream.config.ids import SOURCE_ID_RULE, check_source_id
from emostream.config.secrets import read_secret_file

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "rtmps://", "udp://", "tcp://", "srt://", "http://", "https://")
# An http(s) URL to one of these is a file on a web server, not a live stream.
FILE_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".flv", ".mpg", ".mpeg", ".ts", ".wmv", ".3gp")


def source_kind(url: str) -> str:
    """``rtsp``, ``http``, ``stream`` (other network protocols), ``device``, ``index``, ``lavfi`` or ``file``."""
    lowered = url.lower()
    if lowered.startswith(("rtsp://", "rtsps://")):
        return "rtsp"
    if lowered.startswith(("http://", "https://")):
        return "http"
    if lowered.startswith(NETWORK_SCHEMES):
        return "stream"
    if lowered.startswith("/dev/video"):
        return "device"
    if url.isdigit():
        return "index"
    if lowered.startswith("lavfi:"):
        return "lavfi"
    return "file"


def guess_live(url: str) -> bool:
    """Cameras and network streams are live; files, and http(s) links to a video file, are not."""
    kind = source_kind(url)
    if kind == "http":
        path = url.split("?", 1)[0].split("#", 1)[0].lower()
        return not path.endswith(FILE_SUFFIXES)
    return kind != "file"


def paced_by_pts(url: str, realtime: bool) -> bool:
    """Whether a live source must be handed over at its frames' presentation times.

    A camera or a network stream sends at its own pace. A lavfi graph has no clock:
    FFmpeg renders it as fast as the CPU goes (a core for ``testsrc``, almost all of
    it skipped), so it is always paced, like a camera. A file read as live is paced
    only with ``realtime``; without it, it is read at file speed, as asked.
    """
    kind = source_kind(url)
    return kind == "lavfi" or (kind == "file" and realtime)


class SourceConfig(Section):
    id: str = Field(description="Short id used in stream names, metrics and events: 1-64 letters, digits, _ . -, not only dots.")
    url: str = Field(description="File path, rtsp:// or http(s):// URL, /dev/videoN or a webcam index.")
    live: bool | None = Field(None, description="Live source (newest frame only, reconnects). Default: guessed from the URL.")
    fps: float = Field(10.0, gt=0, le=120, description="Live sources: at most this many frames analysed per second.")
    every_nth: int = Field(1, ge=1, description="Files: analyse every n-th frame.")
    realtime: bool = Field(False, description="Files: play at the clip's own pace instead of as fast as possible (live sources always are).")
    loop: bool = Field(False, description="Files: start again at the end (one session per pass).")
    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTSP transport: tcp (reliable, default) or udp (lower latency on a clean network)."
    )
    password_file: Path | None = Field(
        None,
        description="File holding the camera password (first line), put into the URL's user part (`rtsp://user@host/...`) at each connect.",
    )

    @field_validator("id")
    @classmethod
    def _id_chars(cls, value: str) -> str:
        try:
            return check_source_id(value)  # the rule every stream reader applies (docs/events.md#identifiers)
        except ValueError:
            raise ValueError(f"source id must be {SOURCE_ID_RULE}") from None

    @model_validator(mode="after")
    def _user_for_password_file(self) -> SourceConfig:
        if self.password_file is not None and "@" not in self.url.split("://", 1)[-1].split("/", 1)[0]:
            raise ValueError("password_file needs a user name in the URL, e.g. rtsp://admin@camera/stream")
        return self

    def resolved_url(self) -> str:
        """The URL to connect to, with the password from ``password_file`` filled in.

        The file is read at each call (each connect), so a rotated secret applies without
        a restart; a missing or empty file is a :class:`ConfigError` (see :mod:`emostream.config.secrets`).
        """
        if self.password_file is None:
            return self.url
        from urllib.parse import quote

        secret = read_secret_file(self.password_file, f"sources[{self.id}].password_file")
        scheme, rest = self.url.split("://", 1)
        userinfo, host = rest.split("@", 1)
        user = userinfo.split(":", 1)[0]
        return f"{scheme}://{user}:{quote(secret, safe='')}@{host}"

    @property
    def is_live(self) -> bool:
        if self.live is not None:
            return self.live
        return guess_live(self.url)


def source_from_arg(text: str, index: int) -> SourceConfig:
    """``ID=URL`` or just ``URL``/path; without an id, one is made from the file name or host."""
    match = re.match(r"^([A-Za-z0-9_.-]{1,64})=(.+)$", text)
    if match and "://" not in match.group(1):
        return SourceConfig(id=match.group(1), url=match.group(2))
    stem = Path(text.split("?")[0].rstrip("/")).stem if "://" not in text else text.split("://", 1)[1].split("@")[-1].split("/")[0]
    ident = re.sub(r"[^A-Za-z0-9_.-]", "-", stem)[:60] or f"source{index}"
    return SourceConfig(id=ident, url=text)
