"""Which emostream is running: the package version, and the series every role exports about itself.

The version comes from the installed distribution's metadata, so ``pyproject.toml``
stays its only source. A source checkout run without installing (``PYTHONPATH=src``)
has no metadata; it reports ``0+unknown`` rather than failing, since a version is
something to show, never something to decide on.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # prometheus_client is a serving dependency; `emostream --version` runs without it
    from prometheus_client import CollectorRegistry

UNKNOWN_VERSION = "0+unknown"


def package_version() -> str:
    try:
        return metadata.version("emostream")
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def register_process_metrics(registry: CollectorRegistry) -> None:
    """``process_*`` (memory, CPU, open files), ``python_info`` and ``emostream_build_info`` on a worker's registry.

    prometheus_client adds the process and platform collectors only to its global
    registry; each worker serves its own registry, so they are added here. The
    build-info gauge is always 1 (the labels carry the information), the usual
    way to join a version onto other series in PromQL.
    """
    from prometheus_client import Gauge, PlatformCollector, ProcessCollector

    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    info = Gauge("emostream_build_info", "Always 1; the labels name the emostream version and the Python running it.",
                 ["version", "python"], registry=registry)
    info.labels(package_version(), platform.python_version()).set(1)
