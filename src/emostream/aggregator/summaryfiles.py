"""Writing a session's files into ``summary_dir``: never through a planted link, never half a file.

Each file is written to a fresh temporary name made by ``tempfile.mkstemp``
in the same folder (``O_CREAT|O_EXCL|O_NOFOLLOW``, a random name: a symlink
planted there is never opened) and renamed into place; a symlink at the final
name is refused (rename would replace the link, not follow it, but a planted
link is an attack worth reporting). A failed write removes its temporary file.
File-system faults (disk full, read-only, permission) are raised as
:class:`DiskError` with a short cause, so the aggregator reports them as such,
never as a lost Redis.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from emostream.aggregator.summary import render_timeline_png

# errno -> the cause label of emostream_aggregator_disk_errors_total (infra.metrics.DISK_CAUSES).
DISK_CAUSES = {
    errno.ENOSPC: "no_space",
    errno.EDQUOT: "no_space",
    errno.EROFS: "read_only",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.ENOTDIR: "not_a_directory",
    errno.EIO: "io",
}


class UnsafePathError(ValueError):
    """A name that would leave ``summary_dir`` or that a symlink already holds."""


class DiskError(OSError):
    """The file system refused a write; ``cause`` is one of ``infra.metrics.DISK_CAUSES``."""

    def __init__(self, cause: str, path: Path, error: OSError) -> None:
        super().__init__(error.errno, f"{error.strerror or error} ({path})")
        self.cause = cause


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused unless it names a file directly inside ``folder``.

    Session ids are validated when their messages are decoded (``config.ids``),
    so this never fires for a message that came through a decoder; it is the
    second lock on the door, for whatever reaches here some other way.
    """
    if not name or "/" in name or "\0" in name or name in (".", ".."):
        raise UnsafePathError(f"refusing to write {name!r} outside {folder}")
    return folder / name


def _refuse_link(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise UnsafePathError(f"refusing to write through the symlink {path}")


def write_file(folder: Path, name: str, data: bytes) -> Path:
    """``data`` as ``folder/name``, written whole under a temporary name and renamed into place."""
    path = inside(folder, name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _refuse_link(path)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            _refuse_link(path)  # again, just before the rename
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except UnsafePathError:
        raise
    except OSError as exc:
        if exc.errno in DISK_CAUSES:  # the file system's fault; anything else (a directory at the name...) is this file's
            raise DiskError(DISK_CAUSES[exc.errno], path, exc) from None
        raise
    return path


def write_summary_json(summary: dict[str, Any], folder: Path) -> Path:
    return write_file(folder, f"{summary['session']}.json", (json.dumps(summary, indent=2) + "\n").encode())


def write_timeline_png(summary: dict[str, Any], folder: Path) -> Path:
    return write_file(folder, f"{summary['session']}.timeline.png", render_timeline_png(summary))
