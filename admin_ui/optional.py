"""Access to engine modules that the admin UI uses when they are present.

Where it sits: views ask :func:`engine_module` for the connection check, mode switch, rooms, metrics,
ingest and task modules. A module that is absent gives ``None`` and the page shows a "not available
yet" state instead of failing; an import error *inside* a present module is raised, never hidden.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def engine_module(name: str) -> ModuleType | None:
    """``engine.<name>`` if it exists, else None."""
    full = f"engine.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (full == exc.name or full.startswith(exc.name + ".")):
            return None
        raise
