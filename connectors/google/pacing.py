"""Quota pacing for the Google clients beside the calendar port: Directory, free/busy, ACL, Data Transfer.

Where it sits: ``connectors.google``; :mod:`connectors.google.directory`, :mod:`~connectors.google.calendar_sharing`
and :mod:`~connectors.google.directory_users` send each request through :func:`paced_call`. The composition root
(:func:`engine.runtime.wiring.build_port_factory`) installs the process's pacer with :func:`install`: the same
per-identity and per-project buckets, in the same limiter, that pace the calendar port's event calls
(:class:`engine.runtime.ratelimit.RateLimitedCalendar`), so every Google call a process makes counts against
one budget. The pacer sleeps a short wait and raises a retryable error (``Throttled``) for a long one; it is
called before the request is sent, so a refused slot sends nothing.

Without an installed pacer (a test of the connector alone) calls are not paced.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from connectors.google.classify import call

T = TypeVar("T")

#: ``identity -> None``: takes a quota slot for one request made as ``identity`` (may sleep, may raise).
Pacer = Callable[[str | None], None]

_pacer: Pacer | None = None
_lock = threading.Lock()


def install(pacer: Pacer | None) -> None:
    """Make ``pacer`` pace every request of these clients in this process (``None``: stop pacing)."""
    global _pacer
    with _lock:
        _pacer = pacer


def installed() -> Pacer | None:
    """The pacer in force (None when none is installed)."""
    return _pacer


def paced_call(fn: Callable[[], T], identity: str | None) -> T:
    """Take a quota slot for ``identity``, then run one Google request, classified like every other call."""
    pacer = _pacer
    if pacer is not None:
        pacer(identity)
    return call(fn, identity)
