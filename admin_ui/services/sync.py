"""How the admin UI asks the sync engine for work and reads its metrics.

Where it sits: between the views and the sync engine (:mod:`engine.runtime.actors`, :mod:`engine.runtime.metrics`).
The figures are the same Prometheus series ``/metrics`` shows, for the signed-in tenant.
A resync is requested through the unit of work (:meth:`engine.store.unit_of_work.UnitOfWork.enqueue_session`), so it is
sent only after the request's commit, through the dispatcher the task layer installs.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.runtime import metrics
from engine.store.unit_of_work import UnitOfWork


def request_resync(uow: UnitOfWork, session_id: uuid.UUID) -> str:
    """Ask for a reconcile of ``session_id`` after commit; returns how it was queued, for the flash."""
    uow.enqueue_session(session_id)
    return "sent to the sync queue after saving"


@dataclass
class MetricsView:
    """The sync engine's numbers (process-wide counters, the queue depth when this process knows it)."""

    queue_depth: int | None = None
    reconciles_per_minute: float | None = None
    errors_by_class: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    quota_by_identity: dict[str, Any] = field(default_factory=dict)
    last_sweep_at: datetime | None = None
    stale: bool = False
    message: str = ""


#: Per tenant: (monotonic time, reconcile total) samples, to turn the cumulative counter into a rate.
_samples: dict[str, deque[tuple[float, int]]] = {}


def _rate_per_minute(tenant_id: uuid.UUID, total: int) -> float | None:
    now = time.monotonic()
    samples = _samples.setdefault(str(tenant_id), deque(maxlen=64))
    samples.append((now, total))
    while samples and now - samples[0][0] > 600:
        samples.popleft()
    older = [(t, n) for t, n in samples if now - t >= 5]
    if not older:
        return None
    t0, n0 = older[-1]
    return max(0.0, (total - n0) * 60.0 / (now - t0))


def metrics_snapshot(tasks: Any, tenant_id: uuid.UUID, tenant_slug: str | None = None) -> MetricsView:
    """The sync engine's figures for ``tenant_id`` only, and the queue depth of ``tasks`` if set.

    They are the Prometheus series of :mod:`engine.runtime.metrics` (this web process's and every live
    worker's, read from their ``/metrics``) restricted to the tenant's label, so every web process shows the
    same numbers."""
    snap: dict[str, int] = metrics.snapshot(tenant_id, tenant_slug)
    reconciles = sum(v for k, v in snap.items() if k.startswith("reconcile.") and k != "reconcile.lock_busy")
    quota: dict[str, Any] = {}
    for key, value in snap.items():
        if key.startswith("identity.") and key.endswith((".calls", ".errors")):
            who, _, what = key.removeprefix("identity.").rpartition(".")
            quota.setdefault(who, {"calls": 0, "errors": 0})[what] = value
    last_sweep = snap.get("sweep.last_at")
    depth = tasks.queue_depth() if tasks is not None else None
    view = MetricsView(
        queue_depth=depth if depth is None or depth >= 0 else None,
        reconciles_per_minute=_rate_per_minute(tenant_id, reconciles),
        errors_by_class={k.removeprefix("error."): v for k, v in snap.items() if k.startswith("error.") and v},
        outcomes={k.removeprefix("reconcile."): v for k, v in snap.items() if k.startswith("reconcile.")},
        quota_by_identity={k: f"{v['calls']} calls, {v['errors']} errors" for k, v in quota.items()},
        last_sweep_at=datetime.fromtimestamp(last_sweep, UTC) if last_sweep else None,
    )
    if last_sweep and time.time() - last_sweep > 15 * 60:
        view.stale = True
        view.message = "The periodic sweep has not run for over 15 minutes: is the worker running?"
    if tasks is None:
        view.message = (view.message + " " if view.message else "") + (
            "Queue depth is shown by the web process that runs the embedded worker or sends to Redis."
        )
    view.message += (
        " Reconciles, errors and Google calls count this tenant's work only; the queue depth and the last"
        " sweep are the deployment's."
    )
    return view
