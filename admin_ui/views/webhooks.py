"""Webhooks page (admins; viewers read): the delivery log of what Muster told the platform, and replay.

Where it sits: reads :func:`engine.webhooks.outbox.recent` (newest first, filtered by status) and the tenant's
webhook settings; *Replay* (admins) calls :func:`engine.webhooks.outbox.replay`, audited, and redirects (303):
the delivery clock sends it again within a second, same body and idempotency key. Settings themselves are
on the Integration page (Policies → Webhooks to the platform).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from admin_ui.auth import CurrentUser, csrf_form, db_engine, require
from admin_ui.templating import flash, redirect, render
from engine.admin.roles import Need
from engine.store.models import Tenant, WebhookStatus
from engine.store.unit_of_work import unit_of_work
from engine.webhooks import outbox

router = APIRouter()

#: Rows shown (newest first).
LIMIT = 200


@router.get("/webhooks")
def webhooks_page(
    request: Request, status: str = "", user: CurrentUser = Depends(require(Need.READ_TENANT))
) -> Response:
    wanted = status if status in {s.value for s in WebhookStatus} else ""
    with unit_of_work(db_engine(request)) as uow:
        tenant = uow.db.get(Tenant, user.tenant_id)
        assert tenant is not None
        rows = outbox.recent(db=uow.db, tenant_id=user.tenant_id, limit=LIMIT, status=wanted or None)
        settings = outbox.tenant_webhooks(tenant)
        for row in rows:
            uow.db.expunge(row)
        has_secret = tenant.webhook_secret_encrypted is not None
    return render(
        request,
        "admin/webhooks/list.html",
        {
            "deliveries": rows,
            "status": wanted,
            "statuses": [s.value for s in WebhookStatus],
            "url": settings.url if settings else None,
            "has_secret": has_secret,
            "can_edit": user.is_admin,
        },
    )


@router.post("/webhooks/{delivery_id}/replay")
def replay_delivery(
    request: Request,
    delivery_id: str,
    user: CurrentUser = Depends(require(Need.MANAGE_TENANT)),
    _form: FormData = Depends(csrf_form),
) -> Response:
    try:
        key = uuid.UUID(delivery_id)
    except ValueError:
        key = None
    with unit_of_work(db_engine(request)) as uow:
        done = key is not None and outbox.replay(db=uow.db, tenant_id=user.tenant_id, delivery_id=key, actor=user.actor)
    if done:
        flash(request, f"Delivery {delivery_id} will be sent again within a second (same id).")
    else:
        flash(request, "No such delivery in this workspace.", "bad")
    return redirect("/admin/webhooks")
