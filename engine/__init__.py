"""engine package: the sync engine, its REST API, workers and command line.

Where it sits: the middle layer (``admin_ui → engine → (policies | connectors)``); one folder per stage of the
flow (api → ingest → store → runtime → sync → domain, with delegation and lifecycle beside sync).

:func:`version` is the installed distribution's version (``muster --version``, ``/readyz``, the metrics'
``muster_build_info``).
"""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The installed ``muster`` distribution's version, or ``0+unknown`` when run from an uninstalled tree."""
    try:
        return metadata.version("muster")
    except metadata.PackageNotFoundError:
        return "0+unknown"
