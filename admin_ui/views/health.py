"""Health page (admins; viewers read): "is sync working?" at a glance.

Where it sits: combines the sync engine's metrics snapshot (queue depth, reconciles per minute, errors by
class, quota per Google identity, last sweep; :mod:`admin_ui.services.sync`) with what the database says
(:func:`engine.admin.queries.health_counts`: sync statuses, sessions needing attention), the change feed's
calendars (:func:`engine.feed.status.feed_status`, as ``muster feed status`` and ``GET /v1/admin/feed``) and
the webhook deliveries by status, with the reason deliveries are parked (:mod:`engine.webhooks.outbox`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from admin_ui.auth import CurrentUser, db_engine, require
from admin_ui.services.sync import metrics_snapshot
from admin_ui.templating import render
from engine.admin.queries import health_counts
from engine.admin.roles import Need
from engine.feed.status import feed_status
from engine.store.models import Tenant, WebhookStatus
from engine.store.unit_of_work import unit_of_work
from engine.webhooks import outbox

router = APIRouter()


@router.get("/health")
def health_page(request: Request, user: CurrentUser = Depends(require(Need.READ_TENANT))) -> Response:
    with unit_of_work(db_engine(request)) as uow:
        counts = health_counts(db=uow.db, tenant_id=user.tenant_id)
        calendars = feed_status(db=uow.db, tenant_id=user.tenant_id)
        tenant = uow.db.get(Tenant, user.tenant_id)
        assert tenant is not None
        hooks = outbox.tenant_webhooks(tenant)
        deliveries = outbox.counts(db=uow.db, tenant_id=user.tenant_id)
        parked = outbox.recent(db=uow.db, tenant_id=user.tenant_id, limit=1, status=WebhookStatus.PARKED.value)
        webhooks = {
            "url": hooks.url if hooks is not None else None,
            "has_secret": tenant.webhook_secret_encrypted is not None,
            "counts": deliveries,
            "parked_reason": parked[0].last_error if parked else None,
        }
    metrics = metrics_snapshot(getattr(request.app.state, "tasks", None), user.tenant_id, user.tenant_slug)
    problems = counts.by_status.get("error", 0) + counts.by_status.get("blocked", 0)
    verdict = "ok" if problems == 0 and not metrics.stale else ("warn" if problems < 5 else "bad")
    if verdict == "ok" and (deliveries.get("parked") or any(c.error_class or c.last_error for c in calendars)):
        verdict = "warn"
    return render(
        request,
        "admin/health/detail.html",
        {
            "counts": counts,
            "metrics": metrics,
            "verdict": verdict,
            "problems": problems,
            "calendars": calendars,
            "webhooks": webhooks,
        },
    )
