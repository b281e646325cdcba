"""The sync engine's parts wired for one process: reconciler, lock, debouncer, quota limiter.

Where it sits: composition, used by :mod:`engine.runtime.worker` and ``muster reconcile``. Redis-backed parts when
``settings.redis_url`` is set (shared by every worker process), in-memory ones when embedded.

Extension point for organizer delegation: if ``engine.delegation.placement`` defines
``sync_extensions(settings) -> SyncExtensions`` its placement resolvers (per integration mode), observers
and OAuth credential source are added here; nothing else needs to change.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from engine.runtime import locks, metrics, ratelimit
from engine.runtime.calendar_access import build_port_factory
from engine.settings import Settings
from engine.store.unit_of_work import get_engine
from engine.sync.reconciler import DEFAULT_RESOLVERS, Observer, ResolvePlacement, SessionReconciler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncExtensions:
    resolvers: Mapping[str, ResolvePlacement] = field(default_factory=dict)
    observers: Sequence[Observer] = ()
    oauth: Any = None  #: a connectors.google.credentials.CredentialSource for ``oauth`` actors
    on_auth_error: Any = None  #: an :data:`engine.sync.reconciler.AuthErrorHook` (try the next host)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    reconciler: SessionReconciler
    lock: locks.KeyLock
    debouncer: locks.Debouncer
    limiter: ratelimit.RateLimiter


def _extensions(settings: Settings) -> SyncExtensions:
    try:
        mod = importlib.import_module("engine.delegation.placement")
    except ModuleNotFoundError as exc:
        if exc.name != "engine.delegation.placement":
            raise
        return SyncExtensions()
    hook = getattr(mod, "sync_extensions", None)
    if hook is None:
        return SyncExtensions()
    ext = hook(settings)
    return ext if isinstance(ext, SyncExtensions) else SyncExtensions(**vars(ext))


def build_runtime(
    settings: Settings,
    *,
    engine: Engine | None = None,
    extensions: SyncExtensions | None = None,
    timeout_s: float = 30.0,
) -> Runtime:
    metrics.configure(settings.redis_url, settings.redis_namespace)
    ext = extensions if extensions is not None else _extensions(settings)
    lock, debouncer = locks.build(settings.redis_url, settings.redis_namespace)
    limiter = ratelimit.build(settings.redis_url, settings.redis_namespace)
    calendars = build_port_factory(settings, limiter=limiter, oauth=ext.oauth, timeout_s=timeout_s)
    resolvers = {**DEFAULT_RESOLVERS, **ext.resolvers}
    db_engine = engine or get_engine(settings)
    reconciler = SessionReconciler(
        engine=db_engine,
        calendars=calendars,
        resolvers=resolvers,
        observers=ext.observers,
        on_auth_error=ext.on_auth_error,
    )
    return Runtime(settings, db_engine, reconciler, lock, debouncer, limiter)
