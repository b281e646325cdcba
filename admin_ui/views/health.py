"""Health page (admins; viewers read): "is sync working?" at a glance.

Where it sits: combines the sync engine's metrics snapshot (queue depth, reconciles per minute, errors by
class, quota per Google identity, last sweep; :mod:`admin_ui.services.sync`) with what the database says
(:func:`engine.admin.queries.health_counts`: sync statuses, sessions needing attention).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from admin_ui.auth import CurrentUser, db_engine, require
from admin_ui.services.sync import metrics_snapshot
from admin_ui.templating import render
from engine.admin.queries import health_counts
from engine.admin.roles import Need
from engine.store.unit_of_work import unit_of_work

router = APIRouter()


@router.get("/health")
def health_page(request: Request, user: CurrentUser = Depends(require(Need.READ_TENANT))) -> Response:
    with unit_of_work(db_engine(request)) as uow:
        counts = health_counts(db=uow.db, tenant_id=user.tenant_id)
    metrics = metrics_snapshot(getattr(request.app.state, "tasks", None), user.tenant_id, user.tenant_slug)
    problems = counts.by_status.get("error", 0) + counts.by_status.get("blocked", 0)
    verdict = "ok" if problems == 0 and not metrics.stale else ("warn" if problems < 5 else "bad")
    return render(
        request,
        "admin/health/detail.html",
        {
            "counts": counts,
            "metrics": metrics,
            "verdict": verdict,
            "problems": problems,
        },
    )
