"""Source failures: one exception type, a small set of kinds, and the mapping from FFmpeg's errors.

The kind is what an operator acts on (check the address, the path, the
password, the camera) and is the ``kind`` label of
``emostream_ingest_source_errors_total``, so the set is small and fixed.
Every message names the source with its credentials masked: FFmpeg puts the
full URL into its exceptions, so the raw text is redacted before it is kept.
"""

from __future__ import annotations

import errno
from pathlib import Path

from emostream.infra.redact import redact

# kind -> what it means (also the list documented in docs/sources.md)
KINDS = {
    "unreachable": "cannot connect: no server at that address, or it never answered",
    "not_found": "no such file, stream path (404) or device",
    "auth": "credentials missing or refused (401/403)",
    "no_device": "the webcam does not exist or cannot be opened",
    "not_video": "opened, but it is not a video this build can decode",
    "corrupt": "a video container, but damaged or truncated",
    "too_large": "its frames have more pixels than ingest.max_frame_pixels",
    "stalled": "a live source delivered nothing within ingest.read_timeout_s",
    "disconnected": "a live source ended or failed while streaming",
    "error": "anything else (the message says what)",
}

# First bytes of container formats: a file that starts like a video but cannot be
# opened is damaged (``corrupt``), one that does not is ``not_video``.
_MAGIC: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # MP4, MOV, 3GP
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska, WebM
    (0, b"RIFF"),  # AVI
    (0, b"FLV"),
    (0, b"OggS"),
    (0, b"\x00\x00\x01\xba"),  # MPEG-PS
    (0, b"\x00\x00\x00\x01"),  # raw H.264/H.265 Annex B
    (0, b"\x47"),  # MPEG-TS sync byte (weak, checked last)
)


class SourceError(Exception):
    """A source failed. ``kind`` is one of :data:`KINDS`; the message is safe to log."""

    def __init__(self, kind: str, source_url: str, detail: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown source error kind {kind!r}")
        self.kind = kind
        self.source = redact(source_url)
        self.detail = redact(detail).replace(source_url, self.source)
        super().__init__(f"{self.source}: {self.detail}")


def looks_like_video(path: str) -> bool:
    """Whether the file starts like a video container (used to tell damaged from not-video)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return False
    return any(head[at : at + len(magic)] == magic for at, magic in _MAGIC)


def classify_open_error(exc: BaseException, url: str, *, network: bool, elapsed_s: float, answer_timeout_s: float) -> SourceError:
    """The SourceError for an exception raised while opening ``url``.

    FFmpeg answers a server that accepts the connection but never replies
    with ``InvalidDataError`` once its socket timeout has passed, the same
    class it uses for a file that is not a video: the elapsed time
    (``answer_timeout_s`` is the shortest timeout in force) and the kind of
    URL tell the two apart.
    """
    name = type(exc).__name__
    code = getattr(exc, "errno", None)
    text = str(getattr(exc, "strerror", None) or exc)
    if name in {"HTTPUnauthorizedError", "HTTPForbiddenError"}:
        return SourceError("auth", url, f"credentials missing or refused ({text})")
    if name == "HTTPNotFoundError":
        return SourceError("not_found", url, f"no such stream on the server ({text})")
    if name in {"ConnectionRefusedError", "TimeoutError", "ExitError"} or code in (
        errno.ECONNREFUSED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
    ):
        return SourceError("unreachable", url, f"cannot connect ({text})")
    if name in {"InvalidDataError", "DecoderNotFoundError", "PatchWelcomeError"}:
        if network and elapsed_s >= 0.8 * answer_timeout_s:
            return SourceError("unreachable", url, f"the server did not answer within {elapsed_s:.1f} s ({text})")
        if network:
            return SourceError("not_video", url, f"the server's answer is not a video stream ({text})")
        if looks_like_video(url):
            return SourceError("corrupt", url, f"a video file, but damaged or truncated ({text})")
        return SourceError("not_video", url, f"not a video file ({text})")
    if code == errno.ENOENT or isinstance(exc, FileNotFoundError):
        return SourceError("not_found", url, f"no such file ({text})")
    if code == errno.EIO and network:
        return SourceError("unreachable", url, f"input/output error ({text})")
    return SourceError("error", url, f"{name}: {text}")


def missing_file(url: str) -> SourceError:
    parent = Path(url).parent
    hint = "" if parent.is_dir() else f" (folder {parent} does not exist either)"
    return SourceError("not_found", url, f"no such file{hint}")
