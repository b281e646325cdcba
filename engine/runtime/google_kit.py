"""The engine's one seam to the concrete Google connector used by organizer delegation.

Where it sits: :mod:`engine.delegation.oauth`, :mod:`engine.admin.connection_check`,
:mod:`engine.delegation.placement` and :mod:`engine.delegation.rooms`
receive a :class:`~connectors.ports.delegation.GoogleKit` as a parameter (tests and entry points can pass
their own); when none is given they call :func:`google_kit`, which loads :mod:`connectors.google.kit` by
name. Loading by name keeps the engine's import graph free of ``googleapiclient`` (the import-linter
contract "Only connectors talks to googleapiclient" also forbids indirect imports), exactly like the
calendar port factory is injected rather than imported.
"""

from __future__ import annotations

import importlib
from typing import cast

from connectors.ports.delegation import GoogleKit

#: The module implementing :class:`GoogleKit` against Google (or the emulator, by root URL).
KIT_MODULE = "connectors.google.kit"


def google_kit() -> GoogleKit:
    """The Google implementation of the delegation ports."""
    return cast(GoogleKit, importlib.import_module(KIT_MODULE))
