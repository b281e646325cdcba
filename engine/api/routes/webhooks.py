"""The admin REST API's webhook delivery log: what Muster told the platform, and replaying one delivery.

Where it sits: beside :mod:`engine.api.routes.admin`, opened by the same admin token (``AdminCaller``). Reads
and the replay go through :mod:`engine.webhooks.outbox`; the replay commits in the request and the delivery
clock sends it within a second (same body, same idempotency key). See docs/webhooks.md.

* ``GET /v1/admin/webhooks/deliveries``: newest first, optionally by ``status``;
* ``POST /v1/admin/webhooks/deliveries/{id}/replay``: send one again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field

from engine.api.deps import Uow
from engine.api.routes.admin import AdminCaller
from engine.api.schemas import ApiModel
from engine.ingest.common import NotFound
from engine.store.models import WebhookDelivery
from engine.webhooks import outbox

router = APIRouter(prefix="/v1/admin/webhooks", tags=["admin"])


class WebhookDeliveryPublic(ApiModel):
    check_text = False
    id: uuid.UUID = Field(description="The idempotency key the platform saw (Muster-Webhook-Id)")
    type: str
    session_id: uuid.UUID | None
    status: Literal["pending", "delivered", "failed", "parked"] = Field(
        description="parked: it cannot be signed (no webhook secret); sent as soon as one is saved"
    )
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The platform's last HTTP status (null: no answer)")
    last_error: str | None
    delivered_at: datetime | None
    body: dict[str, Any] = Field(description="The JSON body sent on every attempt")


def _public(row: WebhookDelivery) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic(
        id=row.id,
        type=row.event_type,
        session_id=row.session_id,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        body=dict(row.payload),
    )


@router.get("/deliveries", response_model=list[WebhookDeliveryPublic], summary="The webhook delivery log")
def get_deliveries(
    request_admin: AdminCaller,
    uow: Uow,
    status: Annotated[Literal["pending", "delivered", "failed", "parked"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WebhookDeliveryPublic]:
    rows = outbox.recent(db=uow.db, tenant_id=request_admin.tenant.id, limit=limit, status=status)
    return [_public(r) for r in rows]


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=WebhookDeliveryPublic,
    summary="Send one delivery again (same body, same idempotency key)",
)
def post_replay(
    delivery_id: Annotated[uuid.UUID, Path(description="The delivery's id")], request_admin: AdminCaller, uow: Uow
) -> WebhookDeliveryPublic:
    if not outbox.replay(
        db=uow.db, tenant_id=request_admin.tenant.id, delivery_id=delivery_id, actor=request_admin.actor
    ):
        raise NotFound(
            f"no webhook delivery {delivery_id} in this tenant; list them with GET /v1/admin/webhooks/deliveries",
            loc=["path", "delivery_id"],
        )
    uow.db.flush()
    row = uow.db.get(WebhookDelivery, delivery_id)
    assert row is not None
    answer = _public(row)
    uow.commit()
    return answer
