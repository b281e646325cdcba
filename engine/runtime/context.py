"""What a process's sync work runs with: the reconciler, its lock, debouncer, quota limiter and database.

Where it sits: ``runtime``. Built by the composition root (:func:`engine.runtime.wiring.build_runtime`) and
handed to the task layer (:mod:`engine.runtime.actors`), which reads it without knowing how it was built.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from connectors.ports.feed import ChangeFeedFactory
from engine.runtime import locks, ratelimit
from engine.settings import Settings
from engine.sync.reconciler import SessionReconciler


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    reconciler: SessionReconciler
    lock: locks.KeyLock
    debouncer: locks.Debouncer
    limiter: ratelimit.RateLimiter
    #: The change feed's ports (change listings, push channels): :mod:`engine.feed`.
    feeds: ChangeFeedFactory | None = None
