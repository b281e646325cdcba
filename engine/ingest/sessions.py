"""Data functions behind the ingest REST API: upsert sessions, hosts and enrollments; cancel; remove.

Where it sits: :mod:`engine.api.routes` validate input (:mod:`engine.api.schemas`), open a
:class:`~engine.store.unit_of_work.UnitOfWork`, call these functions, then commit; the unit of work sends the session id
to the sync engine after the commit. Every function here is keyword-only, writes through the caller's
``db`` session and never commits (house style §10), so a request that fails halfway leaves nothing behind.

Each write that changes what the platform says about a session bumps ``LiveSession.revision`` and
returns whether something changed; the route enqueues the session only then (an identical PUT is a no-op,
so a chatty platform cannot cause a storm of Google writes). People are created on the fly from emails
(lower-cased): hosts gain the ``organizer`` role, learners the ``learner`` role.

Concurrency: every write that changes a session's roster or revision first locks the session's row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has a single writer), so writes to one session are
serialised: the attendee cap is counted on a roster nobody else is changing and no revision bump is lost.
People are inserted with ``INSERT ... ON CONFLICT DO NOTHING`` in email order, so two requests creating the
same new people neither fail nor deadlock. What remains (a lock wait that deadlocks across sessions) is
retried by :func:`engine.api.transaction.write`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from engine.api.schemas import (
    MAX_ATTENDEES,
    EnrollmentCreate,
    SessionCreate,
    check_attendee_cap,
)
from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    Enrollment,
    EnrollmentStatus,
    LiveSession,
    Person,
    Role,
    SessionHost,
    SessionStatus,
    SyncStatus,
)
from engine.store.types import utcnow


class IngestError(Exception):
    """A write the API must refuse; ``status_code``, ``loc`` and ``message`` shape the HTTP answer."""

    status_code = 422

    def __init__(self, message: str, *, loc: Sequence[str | int] = ("body",)) -> None:
        super().__init__(message)
        self.message = message
        self.loc = list(loc)


class NotFound(IngestError):
    status_code = 404


class Conflict(IngestError):
    status_code = 409


@dataclass(frozen=True)
class WriteResult:
    session: LiveSession
    created: bool
    changed: bool


def _audit(
    db: Session,
    *,
    session: LiveSession,
    actor: str,
    action: str,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    db.add(
        AuditEvent(
            tenant_id=session.tenant_id,
            actor=actor,
            action=action,
            session_id=session.id,
            subject=subject or session.external_id,
            detail=detail or {},
        )
    )


def _bump(session: LiveSession) -> None:
    session.revision = (session.revision or 0) + 1
    session.updated_at = utcnow()


def find_session(
    *, db: Session, tenant_id: uuid.UUID, external_id: str, lock: bool = False
) -> LiveSession | None:
    """The tenant's session with ``external_id`` (removed ones included), or None.

    ``lock`` takes the row lock every roster or revision write needs (held until the transaction ends)
    and re-reads the row, so what the caller sees is what nobody else can change meanwhile.
    """
    query = select(LiveSession).where(LiveSession.tenant_id == tenant_id, LiveSession.external_id == external_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.exec(query).first()


def get_session_or_404(
    *, db: Session, tenant_id: uuid.UUID, external_id: str, writable: bool = False, lock: bool = False
) -> LiveSession:
    """Like :func:`find_session` but raises :class:`NotFound`; ``writable`` also refuses removed ones.

    ``writable`` or ``lock`` take the session's row lock (see :func:`find_session`).
    """
    session = find_session(db=db, tenant_id=tenant_id, external_id=external_id, lock=writable or lock)
    if session is None:
        raise NotFound(
            f"no session with external id {external_id!r} in this tenant; create it with "
            f"PUT /v1/sessions/{external_id}",
            loc=("path", "external_id"),
        )
    if writable and session.deleted_at is not None:
        raise Conflict(
            f"session {external_id!r} was removed; PUT it again to restore it before changing it",
            loc=("path", "external_id"),
        )
    return session


def _insert_missing_people(db: Session, rows: list[dict[str, Any]]) -> None:
    """``INSERT ... ON CONFLICT (tenant_id, email) DO NOTHING`` for ``rows`` (already in email order)."""
    dialect = db.get_bind().dialect.name
    table = Person.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "email"])
        db.execute(pg)
    elif dialect == "sqlite":
        lite = sqlite.insert(table).values(rows).on_conflict_do_nothing(index_elements=["tenant_id", "email"])
        db.execute(lite)
    else:  # pragma: no cover - Muster runs on PostgreSQL and SQLite only
        raise RuntimeError(f"unsupported database dialect {dialect!r}")


def ensure_people(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    emails: Iterable[str],
    role: Role,
    names: Mapping[str, str | None] | None = None,
) -> dict[str, Person]:
    """People for ``emails`` (lower-cased), created if new, each holding ``role``.

    One query when everyone exists; otherwise one ``INSERT ... ON CONFLICT DO NOTHING`` of the missing
    ones in email order (a concurrent request creating the same people neither fails nor deadlocks: the
    later one waits for the earlier, then skips those rows) and one more query to read them back.
    """
    wanted = sorted(dict.fromkeys(e.lower() for e in emails))
    if not wanted:
        return {}
    names = names or {}
    found = {
        p.email: p
        for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(wanted)))
    }
    missing = [e for e in wanted if e not in found]
    if missing:
        columns = [c.name for c in Person.__table__.columns]  # type: ignore[attr-defined]
        rows = []
        for email in missing:
            person = Person(tenant_id=tenant_id, email=email, roles=[role.value], display_name=names.get(email))
            rows.append({name: getattr(person, name) for name in columns})
        _insert_missing_people(db, rows)
        for p in db.exec(select(Person).where(Person.tenant_id == tenant_id, col(Person.email).in_(missing))):
            found[p.email] = p
    changed = False
    for email in wanted:
        person = found[email]
        updated = False
        if role.value not in person.roles:
            person.roles = [*person.roles, role.value]
            updated = True
        if names.get(email) and not person.display_name:
            person.display_name = names[email]
            updated = True
        if updated:
            person.updated_at = utcnow()
            db.add(person)
            changed = True
    if changed:
        db.flush()
    return found


def _scalar_fields(data: SessionCreate) -> dict[str, Any]:
    room = data.room
    return {
        "title": data.title,
        "description": data.description,
        "time_zone": data.time_zone,
        "start_at": data.start,
        "end_at": data.end,
        "recurrence": "\n".join(data.recurrence) if data.recurrence else None,
        "location": data.location,
        "status": data.status.value,
        "video": data.video.value,
        "manual_join_link": data.manual_join_link,
        "platform_url": data.url,
        "capacity": data.capacity,
        "room_wanted": room is not None,
        "room_min_capacity": room.min_capacity if room else None,
        "room_building": room.building if room else None,
        "room_features": list(room.features) if room else [],
        "room_email": room.email if room else None,
    }


def _set_hosts(db: Session, *, session: LiveSession, data: SessionCreate) -> set[uuid.UUID] | None:
    """Make the session's hosts those of ``data``; the hosts' person ids when that changed anything."""
    hosts = data.host_emails()
    people = ensure_people(
        db=db, tenant_id=session.tenant_id, emails=[e for e, _ in hosts], role=Role.ORGANIZER
    )
    existing = {
        h.person_id: h for h in db.exec(select(SessionHost).where(SessionHost.session_id == session.id))
    }
    changed = False
    keep: set[uuid.UUID] = set()
    for position, (email, role) in enumerate(hosts):
        person = people[email]
        keep.add(person.id)
        row = existing.get(person.id)
        if row is None:
            db.add(
                SessionHost(session_id=session.id, person_id=person.id, role=role.value, position=position)
            )
            changed = True
        elif row.role != role.value or row.position != position:
            row.role, row.position = role.value, position
            db.add(row)
            changed = True
    for person_id, row in existing.items():
        if person_id not in keep:
            db.delete(row)
            changed = True
    if not changed:
        return None
    db.flush()
    return keep


def upsert_session(
    *, db: Session, tenant_id: uuid.UUID, external_id: str, data: SessionCreate, actor: str, platform: bool = False
) -> WriteResult:
    """Create or replace the session ``external_id`` with ``data`` (idempotent; restores a removed one).

    ``platform`` marks a write by the learning platform (the REST API): the session becomes
    ``platform_owned`` and the admin UI stops offering to edit its fields.
    """
    if data.external_id is not None and data.external_id != external_id:
        raise IngestError(
            f"externalId {data.external_id!r} differs from the id in the path {external_id!r}; "
            "send the same id or leave externalId out",
            loc=("body", "externalId"),
        )
    fields = _scalar_fields(data)
    session = find_session(db=db, tenant_id=tenant_id, external_id=external_id, lock=True)
    created = session is None
    if session is None:
        session = LiveSession(tenant_id=tenant_id, external_id=external_id, **fields)
        db.add(session)
        db.flush()
        changed = True
    else:
        changed = session.deleted_at is not None
        session.deleted_at = None
        for name, value in fields.items():
            if getattr(session, name) != value:
                setattr(session, name, value)
                changed = True
    if platform and not session.platform_owned:
        session.platform_owned = True  # not a change of what Google should hold: no revision, no sync
        db.add(session)
    host_ids = _set_hosts(db, session=session, data=data)
    if host_ids is not None:
        changed = True
    else:
        host_ids = _host_person_ids(db, session)
    if data.enrollments is not None and _apply_enrollments(
        db,
        session=session,
        items=data.enrollments,
        replace=True,
        loc=("body", "enrollments"),
        hosts=host_ids,
        check_cap=False,
    ):
        changed = True
    if changed:
        _check_cap(
            db,
            session=session,
            hosts=len(host_ids),
            loc=("body", "enrollments" if data.enrollments is not None else "coHosts"),
        )
    if changed and not created:
        _bump(session)
    if changed:
        db.add(session)
        _audit(
            db,
            session=session,
            actor=actor,
            action="session.create" if created else "session.update",
            detail={"revision": session.revision},
        )
        db.flush()
    return WriteResult(session=session, created=created, changed=changed)


def _host_person_ids(db: Session, session: LiveSession) -> set[uuid.UUID]:
    return set(db.exec(select(SessionHost.person_id).where(SessionHost.session_id == session.id)))


def _apply_enrollments(
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
    return _upsert_enrollments(
        db, session=session, items=items, replace=replace, loc=loc, hosts=hosts, check_cap=check_cap
    ).changed


@dataclass(frozen=True)
class _Applied:
    changed: int
    people: dict[str, Person]
    rows: dict[uuid.UUID, Enrollment]  #: by person id, after the write
    existed: frozenset[uuid.UUID]  #: person ids that had a row (any status) before the write


def _upsert_enrollments(
    db: Session,
    *,
    session: LiveSession,
    items: Sequence[EnrollmentCreate],
    replace: bool,
    loc: Sequence[str | int],
    hosts: set[uuid.UUID] | None = None,
    check_cap: bool = True,
) -> _Applied:
    """:func:`_apply_enrollments` with what it read and wrote.

    Reads only the listed learners' rows unless ``replace`` needs the whole roster; the cap is counted
    (one query) only when someone became enrolled.
    """
    names = {i.email: i.display_name for i in items}
    people = ensure_people(
        db=db, tenant_id=session.tenant_id, emails=[i.email for i in items], role=Role.LEARNER, names=names
    )
    if hosts is None:
        hosts = _host_person_ids(db, session)
    for index, item in enumerate(items):
        if people[item.email].id in hosts and item.status != EnrollmentStatus.CANCELLED:
            raise IngestError(
                f"{item.email} is a host of session {session.external_id!r} and cannot also be enrolled",
                loc=loc if loc[0] == "path" else (*loc, index, "email"),
            )
    query = select(Enrollment).where(Enrollment.session_id == session.id)
    if not replace:
        query = query.where(col(Enrollment.person_id).in_([people[i.email].id for i in items]))
    rows = {e.person_id: e for e in db.exec(query)}
    existed = frozenset(rows)
    changed = 0
    enrolled_more = False
    now = utcnow()
    listed: set[uuid.UUID] = set()
    for item in items:
        person = people[item.email]
        listed.add(person.id)
        row = rows.get(person.id)
        if row is None:
            if item.status == EnrollmentStatus.CANCELLED:
                continue
            row = Enrollment(session_id=session.id, person_id=person.id, status=item.status.value)
            rows[person.id] = row
        elif row.status == item.status.value:
            continue
        else:
            row.status, row.updated_at = item.status.value, now
        enrolled_more = enrolled_more or item.status == EnrollmentStatus.ENROLLED
        db.add(row)
        changed += 1
    if replace:
        for person_id, row in rows.items():
            if person_id not in listed and row.status != EnrollmentStatus.CANCELLED.value:
                row.status, row.updated_at = EnrollmentStatus.CANCELLED.value, now
                db.add(row)
                changed += 1
    if changed:
        db.flush()
    if enrolled_more and check_cap:
        _check_cap(db, session=session, hosts=len(hosts), loc=loc)
    return _Applied(changed=changed, people=people, rows=rows, existed=existed)


def _check_cap(db: Session, *, session: LiveSession, hosts: int, loc: Sequence[str | int]) -> None:
    """Refuse the write when hosts + enrolled learners (+ a room) exceed the cap.

    Counted inside the caller's transaction, which holds the session's row lock: no concurrent write
    can add a learner between this count and the commit.
    """
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
    changed = _apply_enrollments(
        db, session=session, items=items, replace=replace, loc=("body", "enrollments")
    )
    if changed:
        _bump(session)
        db.add(session)
        _audit(
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
    enrollment: Enrollment
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
    applied = _upsert_enrollments(db, session=session, items=[item], replace=False, loc=("path", "email"))
    person = applied.people[item.email]
    changed = applied.changed > 0
    if changed:
        _bump(session)
        db.add(session)
        _audit(db, session=session, actor=actor, action=f"enrollment.{item.status.value}", subject=item.email)
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
    _bump(session)
    db.add(session)
    _audit(db, session=session, actor=actor, action="enrollment.cancelled", subject=email)
    db.flush()
    return True


def set_status(
    *, db: Session, session: LiveSession, status: SessionStatus, actor: str, reason: str | None = None
) -> bool:
    """Cancel or reopen a session. Returns whether the status changed."""
    if session.status == status.value:
        return False
    session.status = status.value
    _bump(session)
    db.add(session)
    _audit(
        db,
        session=session,
        actor=actor,
        action="session.cancel" if status == SessionStatus.CANCELLED else "session.reopen",
        detail={"reason": reason} if reason else {},
    )
    db.flush()
    return True


def mark_deleted(*, db: Session, session: LiveSession, actor: str) -> bool:
    """Mark the session removed (its event gets deleted; the row stays). Returns whether it changed."""
    if session.deleted_at is not None:
        return False
    session.deleted_at = utcnow()
    _bump(session)
    db.add(session)
    _audit(db, session=session, actor=actor, action="session.delete")
    db.flush()
    return True


def sync_needs_retry(*, db: Session, session: LiveSession) -> bool:
    """Whether the session's last sync left something to fill in (an error, a block, no link or room).

    "The next save fills it": a save that changes nothing still asks for a reconcile in that case, so
    an organizer who saves again is never told to wait for a timer. A healthy session is not re-sent,
    which keeps repeated identical saves from causing sync storms.
    """
    binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session.id)).first()
    if binding is None:
        return False
    troubled = binding.sync_status in (SyncStatus.ERROR.value, SyncStatus.BLOCKED.value)
    return troubled or bool(binding.meet_error) or bool(binding.room_error)


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


__all__ = [
    "MAX_ATTENDEES",
    "Conflict",
    "EnrollmentWrite",
    "IngestError",
    "NotFound",
    "WriteResult",
    "cancel_enrollment",
    "counts",
    "ensure_people",
    "find_session",
    "get_session_or_404",
    "mark_deleted",
    "put_enrollment",
    "set_enrollments",
    "set_status",
    "upsert_session",
]
