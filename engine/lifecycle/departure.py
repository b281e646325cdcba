"""Marking people as leaving, suspended or deleted: the write side of detection.

Where it sits: called by the REST API (``PUT/DELETE /v1/people/{email}/departure``), by the Directory
scan and by the reconcile error hook (:mod:`engine.lifecycle.detect`). Each function changes
:class:`~engine.store.models.Person` (and, for a suspended or deleted account, its
:class:`~engine.store.models.GoogleConnection` rows), appends one audit event, and never commits: the caller's
unit of work does. Data functions are keyword-only (house style §10).

Timing of a planned departure (see ``docs/organizer-lifecycle.md``): the transfer is *due* from
``LEAD_DAYS`` before ``leaving_on`` (UTC dates), or at once when no date is given, so it runs with the
organizer's account still active (``events.move`` keeps id, attendees, Meet link and room).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlmodel import Session, select

from engine.lifecycle.facts import find_person, norm_email
from engine.store.models import AuditEvent, ConnectionStatus, GoogleConnection, Person, PersonStatus
from engine.store.types import utcnow

#: A planned transfer runs this many days before the announced last day (the sweep is periodic).
LEAD_DAYS = 1


class DepartureError(Exception):
    """A departure request that cannot be applied; ``status_code`` and ``field`` shape the HTTP answer."""

    def __init__(self, status_code: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.field = field
        self.message = message


def _audit(db: Session, *, tenant_id: uuid.UUID, actor: str, action: str, subject: str,
           detail: dict[str, object]) -> None:
    db.add(AuditEvent(tenant_id=tenant_id, actor=actor, action=action, subject=subject, detail=detail))


def transfer_due(person: Person, today: date) -> bool:
    """Whether this person's events should be transferred now."""
    if person.status in (PersonStatus.SUSPENDED.value, PersonStatus.DELETED.value):
        return True
    if person.status == PersonStatus.LEAVING.value:
        return person.leaving_on is None or person.leaving_on - timedelta(days=LEAD_DAYS) <= today
    return False


@dataclass(frozen=True)
class DepartureView:
    """What the API answers about a departure."""

    email: str
    status: str
    leaving_on: date | None
    transfer_due: bool


def view(person: Person, today: date) -> DepartureView:
    return DepartureView(person.email, person.status, person.leaving_on, transfer_due(person, today))


#: The furthest-behind civil time zone (UTC-12): a date is "in the past" only once it is over there too.
LATEST_ZONE_OFFSET = timedelta(hours=12)


def earliest_today(now: datetime) -> date:
    """The earliest calendar date that is still today somewhere on Earth at the UTC instant ``now``.

    A platform sends ``leavingOn`` as a local date; checking it against the UTC date would refuse
    "today" from anyone west of Greenwich in their evening.
    """
    return (now.astimezone(UTC) - LATEST_ZONE_OFFSET).date()


def announce_departure(*, db: Session, tenant_id: uuid.UUID, email: str, leaving_on: date | None,
                       actor: str, today: date) -> tuple[Person, bool]:
    """Record that ``email`` is leaving (optionally on ``leaving_on``). Returns (person, changed).

    ``today`` is the earliest date still current somewhere (:func:`earliest_today`). 404 when the person
    is unknown, 422 when ``leaving_on`` is before ``today``, 409 when the account is already suspended or
    deleted (the transfer is under way; nothing to announce).
    """
    person = find_person(db, tenant_id, email)
    if person is None:
        raise DepartureError(404, "email", f"no person {norm_email(email)!r} in this tenant; "
                             "create their sessions first or check the address")
    if leaving_on is not None and leaving_on < today:
        raise DepartureError(422, "leavingOn", f"{leaving_on.isoformat()} is in the past; give today or a "
                             "later date, or omit it to transfer at once")
    if person.status in (PersonStatus.SUSPENDED.value, PersonStatus.DELETED.value):
        raise DepartureError(409, "email", f"{person.email} is already {person.status}; their events are "
                             "being transferred")
    changed = person.status != PersonStatus.LEAVING.value or person.leaving_on != leaving_on
    if changed:
        was = person.leaving_on.isoformat() if person.leaving_on else None
        before = {"status": person.status, "leavingOn": was}
        person.status = PersonStatus.LEAVING.value
        person.leaving_on = leaving_on
        person.updated_at = utcnow()
        db.add(person)
        _audit(db, tenant_id=tenant_id, actor=actor, action="person.departure_announced",
               subject=person.email,
               detail={"before": before, "leavingOn": leaving_on.isoformat() if leaving_on else None,
                              "transferDue": transfer_due(person, today)})
    return person, changed


def cancel_departure(*, db: Session, tenant_id: uuid.UUID, email: str, actor: str) -> Person:
    """Withdraw an announced departure. 404 when the person is unknown or not leaving."""
    person = find_person(db, tenant_id, email)
    if person is None:
        raise DepartureError(404, "email", f"no person {norm_email(email)!r} in this tenant")
    if person.status != PersonStatus.LEAVING.value:
        raise DepartureError(404, "email", f"{person.email} has no announced departure (status "
                             f"{person.status})")
    was = person.leaving_on
    person.status = PersonStatus.ACTIVE.value
    person.leaving_on = None
    person.updated_at = utcnow()
    db.add(person)
    _audit(db, tenant_id=tenant_id, actor=actor, action="person.departure_cancelled", subject=person.email,
           detail={"leavingOn": was.isoformat() if was else None,
                   "note": "events already transferred stay with their new owner"})
    return person


def mark_gone(*, db: Session, person: Person, status: PersonStatus, source: str, why: str,
              actor: str = "system") -> bool:
    """Mark ``person`` suspended or deleted (from the Directory scan or a reconcile error).

    Their Google connections stop counting as working. Returns whether anything changed; repeated
    detections of the same state write nothing.
    """
    assert status in (PersonStatus.SUSPENDED, PersonStatus.DELETED)
    changed = person.status != status.value
    conn_status = ConnectionStatus.SUSPENDED if status is PersonStatus.SUSPENDED else ConnectionStatus.REVOKED
    for conn in db.exec(select(GoogleConnection).where(GoogleConnection.person_id == person.id)).all():
        if conn.status != conn_status.value:
            conn.status = conn_status.value
            conn.last_error = f"{person.email} is {status.value} in Google Workspace ({why})"
            conn.updated_at = utcnow()
            db.add(conn)
            changed = True
    if person.status != status.value:
        before = person.status
        person.status = status.value
        person.updated_at = utcnow()
        db.add(person)
        _audit(db, tenant_id=person.tenant_id, actor=actor, action=f"person.{status.value}",
               subject=person.email, detail={"before": before, "source": source, "why": why})
    return changed


def mark_returned(*, db: Session, person: Person, source: str, actor: str = "system") -> bool:
    """A suspended person is active again in Google (unsuspended). Connections must be re-checked."""
    if person.status != PersonStatus.SUSPENDED.value:
        return False
    person.status = PersonStatus.LEAVING.value if person.leaving_on else PersonStatus.ACTIVE.value
    person.updated_at = utcnow()
    db.add(person)
    _audit(db, tenant_id=person.tenant_id, actor=actor, action="person.unsuspended", subject=person.email,
           detail={"source": source, "note": "reconnect Google to act for this person again"})
    return True
