"""Keep a heavy optional module out of a process that does not need it.

MediaPipe's Tasks API imports ``tensorflow.tools.docs`` (for documentation
decorators) and ``tensorflow.io.gfile`` whenever TensorFlow is installed, and
falls back to no-ops when the import fails. In the ingest process that one
optional import maps all of TensorFlow, about 550 MiB of resident memory for
nothing. :func:`blocked` makes such imports fail for the duration of a
``with`` block, so the library takes its own fallback.

Details at :func:`blocked`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.RLock()


@contextmanager
def blocked(*names: str) -> Iterator[None]:
    """Inside the block, ``import NAME`` (and its submodules) raises ModuleNotFoundError for each name not yet imported.

    The trade-off: the block is process-wide while it lasts (another thread
    importing TensorFlow at that moment would fail too), so it is used only
    around the import and construction of a library, in processes whose role does
    not use the blocked module. Blocks are serialised by a lock, so two source
    threads building detectors at once cannot lift each other's block early. A
    module that is already imported is never blocked: that process has paid for
    it, and pretending otherwise would break it.
    """
    with _lock:
        added = [name for name in names if name not in sys.modules]
        for name in added:
            sys.modules[name] = None  # type: ignore[assignment]  # Python's own marker for "import this fails"
        try:
            yield
        finally:
            for name in added:
                if sys.modules.get(name, ...) is None:
                    del sys.modules[name]
