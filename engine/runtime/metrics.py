"""Sync counters: reconcile outcomes, Google calls per identity and error class, for the health page.

Where it sits: the reconciler (:mod:`engine.sync.reconciler`) and the connector's call observer record into the
process's :class:`Metrics`; the admin UI health page calls :func:`snapshot`. With Redis configured the
counters live in one Redis hash (``muster:metrics``) so every worker process adds to the same numbers;
embedded, they live in memory. Fixed labels are zeroed at start (:func:`zero`) so every series shows,
even before its first event (house style §14).

Tenant scope: while :func:`tenant_scope` is active (the reconciler enters it for the session's tenant),
every counter is also counted under ``tenant.<tenant id>.<name>``; :func:`snapshot` with a
``tenant_id`` returns only that tenant's counters (plus the deployment's ``sweep.*`` gauges), so the
health page of one tenant never shows another tenant's identities, errors or call counts.

Stable interface: ``configure(redis_url)``, ``incr(name, by=1)``, ``record_reconcile(outcome)``,
``record_call(identity, method, outcome)``, ``set_value(name, v)``, ``snapshot() -> dict[str, int]``,
``zero()``, ``reset()``. Gauges: ``sweep.last_at`` (epoch seconds), ``sweep.enqueued``.
Counter names: ``reconcile.<outcome>``, ``google.<method>.<outcome>``, ``google.calls``,
``identity.<email>.calls``, ``identity.<email>.errors``, ``error.<class>``, ``ops.<outcome>``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

#: Reconcile outcomes (controller-runtime's labels plus Muster's error classes).
RECONCILE_OUTCOMES = (
    "success",
    "requeue_after",
    "error",
    "retryable_error",
    "permanent_error",
    "auth_error",
    "config_error",
    "lock_busy",
)
#: What the executor did, per op.
OP_OUTCOMES = ("unchanged", "created", "adopted", "updated", "restored", "moved", "deleted")
#: Error classes of :mod:`connectors.errors`.
ERROR_CLASSES = ("retryable", "permanent", "auth", "exists", "config")
#: Google methods the connector calls.
METHODS = ("get", "list", "insert", "patch", "delete", "move")

REDIS_KEY = "muster:metrics"
#: Gauges that describe the whole deployment (not one tenant's work); shown to every tenant.
DEPLOYMENT_GAUGES = ("sweep.last_at",)

#: The tenant whose work is being counted (set by :func:`tenant_scope`), or None.
_tenant: ContextVar[str | None] = ContextVar("muster_metrics_tenant", default=None)

log = logging.getLogger(__name__)


def fixed_labels() -> list[str]:
    names = [f"reconcile.{o}" for o in RECONCILE_OUTCOMES]
    names += [f"ops.{o}" for o in OP_OUTCOMES]
    names += [f"error.{c}" for c in ERROR_CLASSES]
    names += [f"google.{m}.ok" for m in METHODS] + ["google.calls", "google.writes"]
    return names


class Metrics:
    """Counters in memory, or in Redis when a client is given."""

    def __init__(self, redis_client: Any = None, key: str = REDIS_KEY) -> None:
        self._redis = redis_client
        self._key = key
        self._local: Counter[str] = Counter()
        self._lock = threading.Lock()

    def incr(self, name: str, by: int = 1) -> None:
        if self._redis is not None:
            try:
                self._redis.hincrby(self._key, name, by)
                return
            except Exception:  # metrics never break a sync: fall back to this process's memory
                log.debug("metrics: Redis unavailable", exc_info=True)
        with self._lock:
            self._local[name] += by

    def set_value(self, name: str, value: int) -> None:
        if self._redis is not None:
            try:
                self._redis.hset(self._key, name, value)
                return
            except Exception:  # metrics never break a sync: fall back to this process's memory
                log.debug("metrics: Redis unavailable", exc_info=True)
        with self._lock:
            self._local[name] = value

    def snapshot(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self._redis is not None:
            try:
                raw = self._redis.hgetall(self._key)
                out = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in raw.items()}
            except Exception:
                out = {}
        with self._lock:
            for k, v in self._local.items():
                out[k] = out.get(k, 0) + v
        return dict(sorted(out.items()))

    def zero(self) -> None:
        for name in fixed_labels():
            if self._redis is not None:
                try:
                    self._redis.hsetnx(self._key, name, 0)
                    continue
                except Exception:
                    log.debug("metrics: Redis unavailable", exc_info=True)
            with self._lock:
                self._local.setdefault(name, 0)

    def reset(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                self._redis.delete(self._key)
        with self._lock:
            self._local.clear()
        self.zero()


_metrics = Metrics()
_metrics.zero()


def configure(redis_url: str | None, namespace: str = "muster") -> Metrics:
    """Use Redis (shared by all workers) when ``redis_url`` is set; memory otherwise."""
    global _metrics
    client = None
    if redis_url:
        import redis  # local import: embedded mode never needs the package loaded

        client = redis.Redis.from_url(redis_url)
    _metrics = Metrics(client, f"{namespace}:metrics")
    _metrics.zero()
    return _metrics


def current() -> Metrics:
    return _metrics


@contextlib.contextmanager
def tenant_scope(tenant_id: uuid.UUID | str | None) -> Iterator[None]:
    """Count everything recorded inside the block for ``tenant_id`` too (see the module docstring)."""
    token = _tenant.set(str(tenant_id) if tenant_id is not None else None)
    try:
        yield
    finally:
        _tenant.reset(token)


def _count(name: str, by: int = 1) -> None:
    _metrics.incr(name, by)
    tenant = _tenant.get()
    if tenant is not None:
        _metrics.incr(f"tenant.{tenant}.{name}", by)


def incr(name: str, by: int = 1) -> None:
    _count(name, by)


def record_reconcile(outcome: str) -> None:
    _count(f"reconcile.{outcome}")


def record_call(identity: str, method: str, outcome: str) -> None:
    """Observer for :class:`connectors.google.calendar.GoogleCalendar` (``on_call``)."""
    _count("google.calls")
    _count(f"google.{method}.{outcome}")
    _count(f"identity.{identity}.calls")
    if method in ("insert", "patch", "delete", "move"):
        _count("google.writes")
    if outcome != "ok":
        _count(f"error.{outcome}")
        _count(f"identity.{identity}.errors")


def set_value(name: str, value: int) -> None:
    """Set a gauge (e.g. ``sweep.last_at`` as epoch seconds)."""
    _metrics.set_value(name, value)


def snapshot(tenant_id: uuid.UUID | str | None = None) -> dict[str, int]:
    """All counters; with ``tenant_id``, only that tenant's (prefix removed) and the deployment gauges."""
    snap = _metrics.snapshot()
    if tenant_id is None:
        return {k: v for k, v in snap.items() if not k.startswith("tenant.")}
    prefix = f"tenant.{tenant_id}."
    own = {k.removeprefix(prefix): v for k, v in snap.items() if k.startswith(prefix)}
    for name in fixed_labels():
        own.setdefault(name, 0)
    own.update({k: v for k, v in snap.items() if k in DEPLOYMENT_GAUGES})
    return dict(sorted(own.items()))


def zero() -> None:
    _metrics.zero()


def reset() -> None:
    _metrics.reset()
