"""Data functions behind the enrollment routes: replace, merge, put and cancel a session's learners; counts.

Where it sits: :mod:`engine.api.routes.enrollments` (and the session PUT's optional ``enrollments`` list, through
:mod:`engine.ingest.sessions`) call these inside a unit of work; the session id is enqueued after the commit
when something changed. Every roster write runs on the session's locked row (see
:func:`engine.ingest.sessions.find_session`), so the attendee cap is counted on a roster nobody else is changing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.api.schemas import (
    EnrollmentCreate,
    check_attendee_cap,
)
from engine.ingest.common import IngestError, NotFound, audit, bump, host_person_ids
from engine.ingest.people import ensure_people
from engine.ingest.rows import insert_rows, new_row
from engine.store.models import (
    Enrollment,
    EnrollmentStatus,
    LiveSession,
    Person,
    Role,
)
from engine.store.types import utcnow

_ENROLLMENTS: sa.Table = Enrollment.__table__  # type: ignore[attr-defined]
#: What differs between the new enrollment rows of one write.
_VARYING = ("id", "person_id", "status", "created_at")  # created_at: the order they joined (_joined)


def apply_enrollments(
    db: Session,
    *,
    session: LiveSession,
    items: Sequence[EnrollmentCreate],
    replace: bool,
    loc: Sequence[str | int],
    hosts: set[uuid.UUID] | None = None,
    check_cap: bool = True,
) -> int:
    """Upsert ``items``; with ``replace`` cancel everyone else. Returns how many rows changed."""
    return upsert_enrollments(
        db, session=session, items=items, replace=replace, loc=loc, hosts=hosts, check_cap=check_cap
    ).changed


@dataclass(frozen=True)
class NewEnrollment:
    """What a write knows of an enrollment row it inserted with a Core ``INSERT`` (no model was built)."""

    status: str
    updated_at: datetime
    response_status: str | None = None
    response_comment: str | None = None
    responded_at: datetime | None = None


@dataclass(frozen=True)
class _Applied:
    changed: int
    people: dict[str, Person]
    rows: dict[uuid.UUID, Enrollment | NewEnrollment]  #: by person id, after the write
    existed: frozenset[uuid.UUID]  #: person ids that had a row (any status) before the write


def upsert_enrollments(
    db: Session,
    *,
    session: LiveSession,
    items: Sequence[EnrollmentCreate],
    replace: bool,
    loc: Sequence[str | int],
    hosts: set[uuid.UUID] | None = None,
    check_cap: bool = True,
    known: dict[str, Person] | None = None,
    new: bool = False,
) -> _Applied:
    """:func:`apply_enrollments` with what it read and wrote.

    Reads only the listed learners' rows unless ``replace`` needs the whole roster; a ``new`` session (which
    has none) gets its rows in one ``INSERT`` and ``rows`` stays empty (the caller counts ``items``, which
    the schema keeps free of repeated emails). The cap is counted (one query) only when someone became
    enrolled, and never for a ``new`` session (its caller counts it).
    ``known``: people already looked up (:func:`engine.ingest.people.known_people`).
    """
    names = {i.email: i.display_name for i in items}
    people = ensure_people(
        db=db, tenant_id=session.tenant_id, emails=[i.email for i in items], role=Role.LEARNER, names=names,
        known=known,
    )
    if hosts is None:
        hosts = host_person_ids(db, session)
    for index, item in enumerate(items):
        if people[item.email].id in hosts and item.status != EnrollmentStatus.CANCELLED:
            raise IngestError(
                f"{item.email} is a host of session {session.external_id!r} and cannot also be enrolled",
                loc=loc if loc[0] == "path" else (*loc, index, "email"),
            )
    if new:  # nothing to read or compare: the learners' rows go in with one statement
        now = utcnow()
        fresh = [
            new_row(Enrollment, id=uuid.uuid4(), session_id=session.id, person_id=people[i.email].id,
                    status=i.status.value, created_at=joined_at(now, position), updated_at=now)
            for position, i in enumerate(items)
            if i.status != EnrollmentStatus.CANCELLED
        ]
        insert_rows(db, _ENROLLMENTS, fresh, _VARYING)
        return _Applied(changed=len(fresh), people=people, rows={}, existed=frozenset())
    query = select(Enrollment).where(Enrollment.session_id == session.id)
    if not replace:
        query = query.where(col(Enrollment.person_id).in_([people[i.email].id for i in items]))
    rows: dict[uuid.UUID, Enrollment | NewEnrollment] = {e.person_id: e for e in db.exec(query)}
    existed = frozenset(rows)
    changed = 0
    enrolled_more = False
    now = utcnow()
    listed: set[uuid.UUID] = set()
    inserts: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        person = people[item.email]
        listed.add(person.id)
        row = rows.get(person.id)
        if row is None:
            if item.status == EnrollmentStatus.CANCELLED:
                continue
            values = new_row(Enrollment, id=uuid.uuid4(), session_id=session.id, person_id=person.id,
                             status=item.status.value, created_at=joined_at(now, position), updated_at=now)
            inserts.append(values)
            rows[person.id] = NewEnrollment(status=item.status.value, updated_at=now)
        elif row.status == item.status.value:
            continue
        else:
            assert isinstance(row, Enrollment)  # the schemas refuse a list naming a learner twice
            if item.status == EnrollmentStatus.ENROLLED:
                # Back on the guest list from the waitlist or a cancellation: a new invitation, whose answer is
                # not the one given to the last (a recreated event must not show it).
                row.response_status = row.response_comment = row.responded_at = None
            row.status, row.updated_at = item.status.value, now
            db.add(row)
        enrolled_more = enrolled_more or item.status == EnrollmentStatus.ENROLLED
        changed += 1
    if replace:
        for person_id, row in rows.items():
            if person_id not in listed and row.status != EnrollmentStatus.CANCELLED.value:
                assert isinstance(row, Enrollment)  # rows inserted here are all listed
                row.status, row.updated_at = EnrollmentStatus.CANCELLED.value, now
                db.add(row)
                changed += 1
    insert_rows(db, _ENROLLMENTS, inserts, _VARYING)  # the new learners in one statement, no model per row
    if changed:
        db.flush()
    if enrolled_more and check_cap:
        # With ``replace`` every row of the session is in ``rows``: the count needs no query.
        enrolled = (
            sum(1 for r in rows.values() if r.status == EnrollmentStatus.ENROLLED.value) if replace else None
        )
        enforce_cap(db, session=session, hosts=len(hosts), loc=loc, enrolled=enrolled)
    return _Applied(changed=changed, people=people, rows=rows, existed=existed)


def joined_at(now: datetime, position: int) -> datetime:
    """When the learner at ``position`` of one request's list joined: the list's order is the order they joined in
    (the waitlist is promoted earliest first), so rows written together get ``now`` plus one microsecond each."""
    return now + timedelta(microseconds=position)


def enforce_cap(
    db: Session, *, session: LiveSession, hosts: int, loc: Sequence[str | int], enrolled: int | None = None
) -> None:
    """Refuse the write when hosts + enrolled learners (+ a room) exceed the cap.

    Counted inside the caller's transaction, which holds the session's row lock: no concurrent write
    can add a learner between this count and the commit. ``enrolled``: the count when the caller knows
    it without a query (a session created by this very write).
    """
    if enrolled is None:
        enrolled = counts(db=db, session_ids=[session.id])[session.id][0]
    total = hosts + enrolled + (1 if session.room_wanted else 0)
    try:
        check_attendee_cap(total)
    except ValueError as exc:
        raise IngestError(str(exc), loc=loc) from None


def set_enrollments(
    *, db: Session, session: LiveSession, items: Sequence[EnrollmentCreate], replace: bool, actor: str
) -> int:
    """Bulk write: ``replace`` makes ``items`` the whole list (others cancelled), else merges them."""
    changed = apply_enrollments(
        db, session=session, items=items, replace=replace, loc=("body", "enrollments")
    )
    if changed:
        bump(session)
        db.add(session)
        audit(
            db,
            session=session,
            actor=actor,
            action="enrollment.replace" if replace else "enrollment.merge",
            detail={"changed": changed, "listed": len(items)},
        )
        db.flush()
    return changed


@dataclass(frozen=True)
class EnrollmentWrite:
    """What :func:`put_enrollment` did: whether anything changed, and whether the learner was listed before."""

    changed: bool
    existed: bool
    enrollment: Enrollment | NewEnrollment
    person: Person


def put_enrollment(*, db: Session, session: LiveSession, item: EnrollmentCreate, actor: str) -> EnrollmentWrite:
    """Enroll, waitlist or cancel one learner (idempotent).

    Cancelling a learner who was never enrolled is :class:`NotFound` (as ``DELETE`` answers), raised
    before anything is written.
    """
    if item.status == EnrollmentStatus.CANCELLED:
        person, row = _enrollment_of(db, session=session, email=item.email)
        changed = cancel_enrollment(db=db, session=session, email=item.email, actor=actor, found=(person, row))
        return EnrollmentWrite(changed=changed, existed=True, enrollment=row, person=person)
    applied = upsert_enrollments(db, session=session, items=[item], replace=False, loc=("path", "email"))
    person = applied.people[item.email]
    changed = applied.changed > 0
    if changed:
        bump(session)
        db.add(session)
        audit(db, session=session, actor=actor, action=f"enrollment.{item.status.value}", subject=item.email)
        db.flush()
    return EnrollmentWrite(
        changed=changed, existed=person.id in applied.existed, enrollment=applied.rows[person.id], person=person
    )


def _enrollment_of(db: Session, *, session: LiveSession, email: str) -> tuple[Person, Enrollment]:
    """The person ``email`` and their enrollment row in ``session``; :class:`NotFound` if never enrolled."""
    found = db.exec(
        select(Person, Enrollment)
        .join(Enrollment, col(Enrollment.person_id) == col(Person.id))
        .where(Person.tenant_id == session.tenant_id, Person.email == email, Enrollment.session_id == session.id)
    ).first()
    if found is None:
        raise NotFound(f"{email} is not enrolled in session {session.external_id!r}", loc=("path", "email"))
    return found[0], found[1]


def cancel_enrollment(
    *,
    db: Session,
    session: LiveSession,
    email: str,
    actor: str,
    found: tuple[Person, Enrollment] | None = None,
) -> bool:
    """Cancel ``email``'s enrollment (the row stays, for audit). :class:`NotFound` if never enrolled."""
    _person, row = found or _enrollment_of(db, session=session, email=email)
    if row.status == EnrollmentStatus.CANCELLED.value:
        return False
    row.status, row.updated_at = EnrollmentStatus.CANCELLED.value, utcnow()
    db.add(row)
    bump(session)
    db.add(session)
    audit(db, session=session, actor=actor, action="enrollment.cancelled", subject=email)
    db.flush()
    return True


def counts(*, db: Session, session_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """``{session_id: (enrolled, waitlisted)}`` for ``session_ids`` in one query."""
    result = {sid: (0, 0) for sid in session_ids}
    if not session_ids:
        return result
    rows = db.exec(
        select(Enrollment.session_id, Enrollment.status, func.count())
        .where(
            col(Enrollment.session_id).in_(list(session_ids)),
            col(Enrollment.status).in_([EnrollmentStatus.ENROLLED.value, EnrollmentStatus.WAITLISTED.value]),
        )
        .group_by(col(Enrollment.session_id), col(Enrollment.status))
    ).all()
    for session_id, status, number in rows:
        enrolled, waitlisted = result[session_id]
        if status == EnrollmentStatus.ENROLLED.value:
            enrolled = number
        else:
            waitlisted = number
        result[session_id] = (enrolled, waitlisted)
    return result
