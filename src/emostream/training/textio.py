"""Opening the text files datasets come in (plain or gzip-compressed CSV)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path


def open_text(path: Path) -> io.TextIOBase:
    """A text handle on ``path``; ``.gz`` is decompressed on the fly.

    utf-8-sig: a CSV saved by a spreadsheet starts with a byte-order mark that
    would otherwise glue itself to the first header name.
    """
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")
