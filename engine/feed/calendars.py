"""Which calendars the change feed follows: one :class:`~engine.store.models.FeedCalendar` per calendar a
binding writes to, with the identity that acts on it.

Where it sits: :func:`refresh` runs at the start of each feed pass (the worker's feed clock, the sweep,
``muster feed``); :func:`actor_of` gives :mod:`engine.feed.sync` and :mod:`engine.feed.channels` the
identity to list and watch as. A calendar no live binding uses any more is marked inactive (its channel
is stopped by the next channel pass); one used again is reactivated. Database only, no Google call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select
from sqlmodel import Session, col, select

from connectors.ports.calendar import Actor
from engine.store.models import CalendarBinding, FeedCalendar, SyncStatus
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from engine.sync.reconciler import binding_actor


@dataclass(frozen=True)
class RefreshReport:
    active: int
    added: int
    deactivated: int


def actor_of(row: FeedCalendar) -> Actor:
    """The identity that lists and watches the calendar (the one its bindings write as)."""
    tenant = row.tenant_id or uuid.UUID(int=0)
    return binding_actor(tenant, row.actor_kind, row.actor_email, row.actor_connection_id)


def refresh(engine: Engine) -> RefreshReport:
    """Make the feed rows match the calendars live bindings write to (idempotent). Two processes refreshing
    at once may both insert a new calendar: the loser of that race reads the winner's row and goes on."""
    try:
        return _refresh(engine)
    except IntegrityError:
        return _refresh(engine)


def _refresh(engine: Engine) -> RefreshReport:
    now = utcnow()
    with unit_of_work(engine) as uow:
        db = uow.db
        wanted: dict[str, tuple[str, str, uuid.UUID | None, uuid.UUID]] = {
            cal: (owner.lower(), kind or "vendor", conn, tenant)
            for cal, owner, kind, conn, tenant in db.connection().execute(_latest_per_calendar())
        }
        rows = {r.calendar_id: r for r in db.exec(select(FeedCalendar)).all()}
        added = deactivated = 0
        for cal, (owner, kind, conn, tenant) in wanted.items():
            row = rows.get(cal)
            if row is None:
                row = FeedCalendar(calendar_id=cal, actor_kind=kind, actor_email=owner,
                                   actor_connection_id=conn, tenant_id=tenant)
                added += 1
            elif (row.active, row.actor_kind, row.actor_email, row.actor_connection_id, row.tenant_id) == (
                True, kind, owner, conn, tenant
            ):
                continue
            else:
                row.active = True
                row.actor_kind, row.actor_email, row.actor_connection_id, row.tenant_id = kind, owner, conn, tenant
            row.updated_at = now
            db.add(row)
        for cal, row in rows.items():
            if cal not in wanted and row.active:
                row.active = False
                row.updated_at = now
                db.add(row)
                deactivated += 1
    return RefreshReport(active=len(wanted), added=added, deactivated=deactivated)


def _latest_per_calendar() -> Select[Any]:
    """One row per calendar live bindings write to (its id lowercased), from the binding updated last: that one
    says who acts on it. Ranked in the database, so a feed pass reads a row per calendar, not per session."""
    b = CalendarBinding
    cal = sa.func.lower(col(b.calendar_id))
    ranked = (
        sa.select(
            cal.label("cal"), col(b.owner_email).label("owner"), col(b.actor_kind).label("kind"),
            col(b.actor_connection_id).label("conn"), col(b.tenant_id).label("tenant"),
            sa.func.row_number().over(partition_by=cal, order_by=(col(b.updated_at).desc(), col(b.id).desc()))
            .label("rank"),
        )
        .where(col(b.calendar_id).is_not(None), col(b.calendar_id) != "", col(b.event_id).is_not(None))
        .where(col(b.owner_email).is_not(None), col(b.owner_email) != "")
        .where(col(b.sync_status) != SyncStatus.REMOVED.value)
        .subquery()
    )
    r = ranked.c
    return sa.select(r.cal, r.owner, r.kind, r.conn, r.tenant).where(r.rank == 1)


def active_ids(engine: Engine) -> list[uuid.UUID]:
    """Ids of the calendars followed now."""
    with Session(engine) as db:
        return list(db.exec(select(FeedCalendar.id).where(FeedCalendar.active == True)).all())  # noqa: E712
