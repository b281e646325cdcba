"""The change feed's state as an admin sees it: each calendar Muster follows, how it is listened to, and
what is waiting.

Where it sits: the read side of :mod:`engine.feed`, shared by ``muster feed status`` (:mod:`engine.cli.feed`),
``GET /v1/admin/feed`` (:mod:`engine.api.routes.feed`) and the admin UI's Health page
(:mod:`admin_ui.views.health`). Reads the :class:`~engine.store.models.FeedCalendar` rows and counts, per
calendar, the bindings whose change noted in Google is not reconciled yet; no Google call, no write.

How a calendar is listened to (``listening``): ``push`` (a channel is open and not expired), ``expired``
(a channel whose expiry has passed: the next channel pass opens a new one; the timer still syncs),
``timer`` (no channel: ``MUSTER_PUSH_URL`` is unset, or the channel is not open yet) or ``stopped`` (the
calendar is no longer followed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from engine.store.models import CalendarBinding, FeedCalendar, SyncStatus, Tenant
from engine.store.types import utcnow

Listening = Literal["push", "expired", "timer", "stopped"]


@dataclass(frozen=True)
class FeedCalendarStatus:
    """One followed calendar, as ``muster feed status``, the admin API and the Health page show it."""

    calendar_id: str
    tenant_slug: str | None
    identity: str  #: ``<kind>:<email>``: who lists and watches the calendar (vendor, delegated, oauth)
    active: bool
    has_sync_token: bool
    synced_at: datetime | None
    full_synced_at: datetime | None
    listening: Listening
    channel_id: str | None
    channel_expires_at: datetime | None
    error_class: str | None
    last_error: str | None
    #: Sessions on this calendar whose change noted in Google is not reconciled yet.
    pending_changes: int

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat().replace("+00:00", "Z") if value is not None else None

        return {
            "calendar_id": self.calendar_id,
            "tenant": self.tenant_slug,
            "identity": self.identity,
            "active": self.active,
            "has_sync_token": self.has_sync_token,
            "synced_at": iso(self.synced_at),
            "full_synced_at": iso(self.full_synced_at),
            "listening": self.listening,
            "channel_id": self.channel_id,
            "channel_expires_at": iso(self.channel_expires_at),
            "error_class": self.error_class,
            "last_error": self.last_error,
            "pending_changes": self.pending_changes,
        }


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def listening(row: FeedCalendar, now: datetime) -> Listening:
    """Pure: how ``row``'s calendar is listened to now (see the module docstring)."""
    if not row.active:
        return "stopped"
    if row.channel_id is None:
        return "timer"
    expires = _utc(row.channel_expires_at)
    return "expired" if expires is None or expires <= now else "push"


def feed_status(
    *, db: Session, tenant_id: uuid.UUID | None = None, include_stopped: bool = False, now: datetime | None = None
) -> list[FeedCalendarStatus]:
    """Every calendar the feed follows (of ``tenant_id``, or of all tenants), by tenant then calendar;
    ``include_stopped`` adds calendars no longer followed."""
    now = now or utcnow()
    query = select(FeedCalendar)
    if tenant_id is not None:
        query = query.where(FeedCalendar.tenant_id == tenant_id)
    if not include_stopped:
        query = query.where(FeedCalendar.active == True)  # noqa: E712
    rows = list(db.exec(query).all())
    slugs = {t.id: t.slug for t in db.exec(select(Tenant)).all()}
    pending: dict[str, int] = {}
    calendar = sa.func.lower(col(CalendarBinding.calendar_id))
    if rows:
        for calendar_id, n in db.exec(
            select(calendar, sa.func.count())
            .where(calendar.in_([r.calendar_id.lower() for r in rows]),
                   col(CalendarBinding.remote_changed_at).is_not(None),
                   CalendarBinding.sync_status != SyncStatus.REMOVED.value)
            .group_by(calendar)
        ).all():
            pending[str(calendar_id).lower()] = int(n)
    out = [
        FeedCalendarStatus(
            calendar_id=r.calendar_id,
            tenant_slug=slugs.get(r.tenant_id) if r.tenant_id is not None else None,
            identity=f"{r.actor_kind}:{r.actor_email}",
            active=r.active,
            has_sync_token=r.sync_token is not None,
            synced_at=_utc(r.synced_at),
            full_synced_at=_utc(r.full_synced_at),
            listening=listening(r, now),
            channel_id=r.channel_id,
            channel_expires_at=_utc(r.channel_expires_at),
            error_class=r.error_class,
            last_error=r.last_error,
            pending_changes=pending.get(r.calendar_id.lower(), 0),
        )
        for r in rows
    ]
    return sorted(out, key=lambda s: (s.tenant_slug or "", s.calendar_id))
