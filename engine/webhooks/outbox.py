"""The webhook delivery table as a durable queue: write a delivery with the change, hand it over after commit.

Where it sits: :func:`emit` is called inside the unit of work that made the change (the reconcile's answer
recording, the organizer lifecycle ...); it writes a :class:`~engine.store.models.WebhookDelivery` only when
the tenant's ``webhooks`` settings want that event type, and registers the delivery id to be handed to the
installed dispatcher (the ``deliver_webhook`` actor, :func:`set_webhook_dispatcher`) once, and only if,
the transaction commits. A delivery whose hand-over failed, or whose attempt failed, waits in the table:
the delivery clock (:func:`engine.webhooks.delivery.hand_over_due`) claims what is due with
:func:`claim_due`.

A delivery is held by one attempt at a time through ``lease_until`` (set when it is handed over, cleared
when the attempt is recorded); a lease that expires (a killed worker) makes it due again. Delivery is at
least once: the platform drops repeats by the delivery id.

Keyword-only data functions on the caller's session; they never commit.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlmodel import Session, col, select

from engine.store.models import AuditEvent, Tenant, WebhookDelivery, WebhookStatus
from engine.store.types import utcnow
from engine.webhooks.events import WebhookEvent, envelope
from policies.schema import SettingError
from policies.webhooks import WebhookSettings

log = logging.getLogger(__name__)

#: How long a handed-over delivery is held before the clock may hand it over again (an attempt lasts at
#: most the HTTP timeout, so a lease this long has expired only when its worker died).
LEASE = timedelta(seconds=60)

#: Called with delivery ids after commit; returns those it could not hand over.
WebhookDispatcher = Callable[[list[uuid.UUID]], "list[uuid.UUID] | None"]

_dispatcher: WebhookDispatcher | None = None
_INFO_KEY = "muster_webhooks_pending"
_lock = threading.Lock()


def set_webhook_dispatcher(fn: WebhookDispatcher | None) -> None:
    """Install what hands committed deliveries to the task layer (None: the delivery clock finds them)."""
    global _dispatcher
    with _lock:
        _dispatcher = fn


def current_webhook_dispatcher() -> WebhookDispatcher | None:
    return _dispatcher


class TenantLike(Protocol):
    """What :func:`emit` needs of a tenant (a :class:`Tenant` row or the reconcile's ``TenantFacts``)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def slug(self) -> str: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...


def tenant_webhooks(tenant: TenantLike | Tenant) -> WebhookSettings | None:
    """The tenant's webhook settings, or None when the stored section is invalid (reported elsewhere)."""
    try:
        return WebhookSettings.parse((tenant.settings or {}).get("webhooks"))
    except SettingError:
        return None


def emit(
    db: Session, *, tenant: TenantLike | Tenant, event: WebhookEvent, now: datetime | None = None
) -> uuid.UUID | None:
    """Write a delivery of ``event`` for ``tenant`` if its settings want it; returns its id (None: not wanted).

    Sent after the caller's commit (never if it rolls back). The body is built now, so every attempt and
    replay sends the same content with the same idempotency key.
    """
    wanted = tenant_webhooks(tenant)
    if wanted is None or not wanted.wants(event.type):
        return None
    now = now or utcnow()
    delivery_id = uuid.uuid4()
    dispatcher = _dispatcher
    row = WebhookDelivery(
        id=delivery_id,
        tenant_id=tenant.id,
        event_type=event.type,
        session_id=event.session_id,
        payload=envelope(delivery_id=delivery_id, tenant_slug=tenant.slug, created_at=now, event=event),
        next_attempt_at=now,
        lease_until=now + LEASE if dispatcher is not None else None,
        created_at=now,
    )
    db.add(row)
    if dispatcher is not None:
        _after_commit(db, delivery_id, dispatcher)
    return delivery_id


def _after_commit(db: Session, delivery_id: uuid.UUID, dispatcher: WebhookDispatcher) -> None:
    """Hand ``delivery_id`` to ``dispatcher`` when ``db`` commits; forget it when it rolls back.

    One listener pair per database session, registered on its first delivery and left in place (a session
    lives for one unit of work); each commit hands over what was written since the last one."""
    pending: list[uuid.UUID] | None = db.info.get(_INFO_KEY)
    if pending is not None:
        pending.append(delivery_id)
        return
    db.info[_INFO_KEY] = [delivery_id]

    def after_commit(session: Any) -> None:
        ids = list(session.info.get(_INFO_KEY) or [])
        session.info[_INFO_KEY] = []
        if not ids:
            return
        try:
            failed = dispatcher(ids)
        except Exception as exc:  # the broker is down: the leases expire and the delivery clock hands them over
            log.warning("could not hand over webhook deliveries %s (%s); the delivery clock will", ids, exc)
            return
        if failed:
            log.warning("could not hand over webhook deliveries %s; the delivery clock will", failed)

    def after_rollback(session: Any, previous: Any) -> None:
        if getattr(previous, "parent", None) is None:
            session.info[_INFO_KEY] = []

    sa_event.listen(db, "after_commit", after_commit)
    sa_event.listen(db, "after_soft_rollback", after_rollback)


def _due_clause(now: datetime) -> Any:
    return sa.and_(
        col(WebhookDelivery.status) == WebhookStatus.PENDING.value,
        col(WebhookDelivery.next_attempt_at) <= now,
        sa.or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now),
    )


def claim_due(*, db: Session, now: datetime | None = None, limit: int = 100) -> list[uuid.UUID]:
    """Take the lease of up to ``limit`` due deliveries (oldest first); returns their ids to hand over.

    Each claim is a conditional update, so two clocks never both hand over one delivery.
    """
    now = now or utcnow()
    ids = list(
        db.exec(
            select(WebhookDelivery.id)
            .where(_due_clause(now))
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
        )
    )
    claimed: list[uuid.UUID] = []
    for delivery_id in ids:
        result = db.execute(
            sa.update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id, _due_clause(now))
            .values(lease_until=now + LEASE)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(delivery_id)
    return claimed


def release(*, db: Session, delivery_ids: Sequence[uuid.UUID]) -> None:
    """Give up the lease of deliveries that could not be handed over (due again at once)."""
    if delivery_ids:
        db.execute(
            sa.update(WebhookDelivery).where(col(WebhookDelivery.id).in_(list(delivery_ids))).values(lease_until=None)
        )


def replay(
    *, db: Session, tenant_id: uuid.UUID, delivery_id: uuid.UUID, actor: str = "system", now: datetime | None = None
) -> bool:
    """Send a delivery again (delivered, failed or parked): same body, same idempotency key; audited as
    ``webhook.replayed``. The delivery clock sends it within a second. False: not this tenant's delivery.
    A parked one (no secret) is parked again by its next attempt until a secret is saved."""
    row = db.get(WebhookDelivery, delivery_id)
    if row is None or row.tenant_id != tenant_id:
        return False
    now = now or utcnow()
    db.add(
        AuditEvent(
            tenant_id=tenant_id, actor=actor, action="webhook.replayed", session_id=row.session_id,
            subject=str(row.id), detail={"type": row.event_type, "status": row.status, "attempts": row.attempts},
        )
    )
    row.status = WebhookStatus.PENDING.value
    row.next_attempt_at = now
    row.lease_until = None
    row.attempts = 0
    db.add(row)
    return True


def resume_parked(*, db: Session, tenant_id: uuid.UUID, now: datetime | None = None) -> int:
    """Make the tenant's parked deliveries (no secret to sign with) due again at once, attempts kept;
    returns how many. Called by tenant set-up when a webhook secret is saved."""
    result = db.execute(
        sa.update(WebhookDelivery)
        .where(col(WebhookDelivery.tenant_id) == tenant_id, col(WebhookDelivery.status) == WebhookStatus.PARKED.value)
        .values(status=WebhookStatus.PENDING.value, next_attempt_at=now or utcnow(), lease_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def counts(*, db: Session, tenant_id: uuid.UUID) -> dict[str, int]:
    """How many of the tenant's deliveries are in each status (the Health page, ``muster webhooks log``)."""
    return {
        str(status): int(n)
        for status, n in db.exec(
            select(WebhookDelivery.status, sa.func.count())
            .where(WebhookDelivery.tenant_id == tenant_id)
            .group_by(col(WebhookDelivery.status))
        ).all()
    }


def prune(*, db: Session, before: datetime, limit: int = 1_000) -> int:
    """Delete up to ``limit`` delivered or failed deliveries created before ``before``; returns how many.
    Pending ones are never deleted (nothing is lost)."""
    ids = list(
        db.exec(
            select(WebhookDelivery.id)
            .where(
                col(WebhookDelivery.status).in_([WebhookStatus.DELIVERED.value, WebhookStatus.FAILED.value]),
                col(WebhookDelivery.created_at) < before,
            )
            .limit(limit)
        )
    )
    if ids:
        db.execute(sa.delete(WebhookDelivery).where(col(WebhookDelivery.id).in_(ids)))
    return len(ids)


def recent(
    *, db: Session, tenant_id: uuid.UUID | None, limit: int = 100, status: str | None = None
) -> list[WebhookDelivery]:
    """The tenant's deliveries (None: every tenant's), newest first: the delivery log of the admin UI, the
    admin REST API and ``muster webhooks log``."""
    query = select(WebhookDelivery)
    if tenant_id is not None:
        query = query.where(WebhookDelivery.tenant_id == tenant_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return list(db.exec(query.order_by(col(WebhookDelivery.created_at).desc()).limit(limit)))
