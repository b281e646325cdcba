"""The calendars the change feed follows (``engine.feed.calendars.refresh``), on SQLite and PostgreSQL: one per
calendar live bindings write to, acting as the binding updated last, whatever the case of its id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.feed import calendars
from engine.store.models import CalendarBinding, FeedCalendar, LiveSession, Tenant

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _binding(db: Session, tenant: Tenant, n: int, calendar: str | None, owner: str | None, *,
             updated: datetime, status: str = "synced", kind: str | None = "vendor",
             connection: uuid.UUID | None = None) -> None:
    session = LiveSession(tenant_id=tenant.id, external_id=f"s-{n}", title=f"Session {n}", start_at=T0,
                          end_at=T0 + timedelta(hours=1), time_zone="UTC")
    db.add(session)
    db.flush()
    db.add(CalendarBinding(tenant_id=tenant.id, session_id=session.id, calendar_id=calendar,
                           event_id=f"muster{n:04d}" if calendar else None, owner_email=owner, actor_kind=kind,
                           actor_connection_id=connection, sync_status=status, updated_at=updated))


def _followed(engine: Engine) -> dict[str, tuple[bool, str, str, uuid.UUID | None, uuid.UUID | None]]:
    with Session(engine) as db:
        return {
            r.calendar_id: (r.active, r.actor_kind, r.actor_email, r.actor_connection_id, r.tenant_id)
            for r in db.exec(select(FeedCalendar)).all()
        }


def test_each_calendar_is_followed_as_the_binding_updated_last_acts_on_it(db_engine: Engine) -> None:
    ada_connection = uuid.uuid4()
    with Session(db_engine) as db:
        tenant = Tenant(slug="feedcals", name="Feed calendars")
        db.add(tenant)
        db.flush()
        # a vendor calendar with three sessions; the newest binding names the owner in capitals
        for n, minutes in enumerate((0, 5, 2)):
            _binding(db, tenant, n, "owner-1@vendor.example", "owner-1@vendor.example",
                     updated=T0 + timedelta(minutes=minutes))
        _binding(db, tenant, 3, "OWNER-1@vendor.example", "Owner-1@Vendor.example",
                 updated=T0 + timedelta(minutes=9))
        # an organizer's calendar: moved from the vendor pool to Ada's own connection, the later binding wins
        _binding(db, tenant, 4, "ada@acme.example", "owner-2@vendor.example", updated=T0)
        _binding(db, tenant, 5, "ada@acme.example", "ada@acme.example", updated=T0 + timedelta(minutes=1),
                 kind="oauth", connection=ada_connection)
        # not followed: a removed session's calendar, a binding without an event yet, one without an owner
        _binding(db, tenant, 6, "gone@acme.example", "gone@acme.example", updated=T0, status="removed")
        _binding(db, tenant, 7, None, None, updated=T0, status="pending")
        _binding(db, tenant, 8, "nobody@acme.example", None, updated=T0)
        _binding(db, tenant, 9, "blank@acme.example", "", updated=T0)
        db.add(FeedCalendar(calendar_id="left@acme.example", actor_kind="vendor", actor_email="left@acme.example",
                            tenant_id=tenant.id))
        db.commit()
        tenant_id = tenant.id

    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(db_engine, "before_cursor_execute", seen)
    try:
        report = calendars.refresh(db_engine)
    finally:
        event.remove(db_engine, "before_cursor_execute", seen)
    assert (report.active, report.added, report.deactivated) == (2, 2, 1)
    assert _followed(db_engine) == {
        "owner-1@vendor.example": (True, "vendor", "owner-1@vendor.example", None, tenant_id),
        "ada@acme.example": (True, "oauth", "ada@acme.example", ada_connection, tenant_id),
        "left@acme.example": (False, "vendor", "left@acme.example", None, tenant_id),
    }
    # the bindings are ranked in the database: one statement reads them, whatever their number
    reads = [s for s in statements if "calendar_binding" in s]
    assert len(reads) == 1 and "row_number" in reads[0].lower()

    # refreshed again with nothing changed: nothing is written
    again = calendars.refresh(db_engine)
    assert (again.active, again.added, again.deactivated) == (2, 0, 0)
