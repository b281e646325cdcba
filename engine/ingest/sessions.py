"""Data functions behind the session routes: upsert a session and its hosts, change its status, remove it.

Where it sits: :mod:`engine.api.routes` validate input (:mod:`engine.api.schemas`), open a
:class:`~engine.store.unit_of_work.UnitOfWork`, call these functions, then commit; the unit of work sends the session id
to the sync engine after the commit. Every function here is keyword-only, writes through the caller's
``db`` session and never commits (house style §10), so a request that fails halfway leaves nothing behind.
Learners are written by :mod:`engine.ingest.enrollments` (also for the PUT's optional ``enrollments`` list),
people by :mod:`engine.ingest.people`; errors and the audit row are in :mod:`engine.ingest.common`.

Each write that changes what the platform says about a session bumps ``LiveSession.revision`` and
returns whether something changed; the route enqueues the session only then (an identical PUT is a no-op,
so a chatty platform cannot cause a storm of Google writes).

Concurrency: every write that changes a session's roster or revision first locks the session's row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has a single writer), so writes to one session are
serialised: the attendee cap is counted on a roster nobody else is changing and no revision bump is lost.
What remains (a lock wait that deadlocks across sessions) is retried by :func:`engine.api.transaction.write`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, select

from engine.api.schemas import EnrollmentCreate, SessionCreate
from engine.ingest.common import (
    Conflict,
    IngestError,
    NotFound,
    Roster,
    WriteResult,
    audit,
    bump,
    host_person_ids,
)
from engine.ingest.create import add_roles, write_new_session
from engine.ingest.enrollments import enforce_cap, joined_at, upsert_enrollments
from engine.ingest.people import ensure_people, ensure_roles
from engine.ingest.rows import insert_rows, new_row
from engine.store.loaded import as_loaded
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

_HOSTS: sa.Table = SessionHost.__table__  # type: ignore[attr-defined]
_SESSIONS: sa.Table = LiveSession.__table__  # type: ignore[attr-defined]
#: The columns that differ between the host rows of one new session (:func:`engine.ingest.rows.insert_rows`).
_HOST_VARYING = ("id", "person_id", "role", "position")


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


def _set_hosts(
    db: Session, *, session: LiveSession, data: SessionCreate, new: bool, known: dict[str, Person]
) -> set[uuid.UUID] | None:
    """Make the session's hosts those of ``data``; the hosts' person ids when that changed anything.
    ``new``: the session was just created (it has no hosts to read; they are inserted in one statement)."""
    hosts = data.host_emails()
    people = ensure_people(
        db=db, tenant_id=session.tenant_id, emails=[e for e, _ in hosts], role=Role.ORGANIZER, known=known
    )
    if new:
        rows = [
            new_row(SessionHost, id=uuid.uuid4(), session_id=session.id, person_id=people[email].id,
                    role=role.value, position=position)
            for position, (email, role) in enumerate(hosts)
        ]
        insert_rows(db, _HOSTS, rows, _HOST_VARYING)
        return {r["person_id"] for r in rows}
    existing = {h.person_id: h for h in db.exec(select(SessionHost).where(SessionHost.session_id == session.id))}
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


@lru_cache(maxsize=4)
def _claim_statement(dialect: str) -> Any:
    """The statement of :func:`_claim` for ``dialect``, built once (one named parameter per column)."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_SESSIONS).values(
        {c.name: sa.bindparam(c.name, type_=c.type) for c in _SESSIONS.c}
    )
    return insert.on_conflict_do_update(
        index_elements=["tenant_id", "external_id"], set_={"external_id": insert.excluded.external_id}
    ).returning(*_SESSIONS.c)


def _attached(db: Session, row: RowMapping) -> LiveSession:
    """The session of ``row`` (a whole ``live_session`` row just read) as a persistent object of ``db``, as if
    the ORM had loaded it (attribute history empty: what the caller changes is flushed as an ``UPDATE``),
    without the ORM's per-row loading work; an instance ``db`` already holds is refreshed instead."""
    held = db.identity_map.get(identity_key(LiveSession, row["id"]))
    if held is None:
        session = as_loaded(LiveSession, row)
        db.add(session)
        return session
    for name, value in row.items():
        set_committed_value(held, name, value)
    return held


def _claim(
    db: Session, *, tenant_id: uuid.UUID, external_id: str, fields: dict[str, Any], platform: bool
) -> tuple[LiveSession, bool]:
    """The session ``external_id``, inserted with ``fields`` when new, its row locked either way; and whether
    this call created it. One statement: ``INSERT ... ON CONFLICT (tenant_id, external_id) DO UPDATE``
    (a no-op update that takes the row lock, as ``SELECT ... FOR UPDATE`` would) ``RETURNING`` the row."""
    row = new_row(LiveSession, id=uuid.uuid4(), tenant_id=tenant_id, external_id=external_id,
                  platform_owned=platform, **fields)
    statement = _claim_statement(db.get_bind().dialect.name)
    claimed = db.connection().execute(statement, row).one()._mapping
    return _attached(db, claimed), claimed["id"] == row["id"]


def upsert_session(
    *, db: Session, tenant_id: uuid.UUID, external_id: str, data: SessionCreate, actor: str, platform: bool = False
) -> WriteResult:
    """Create or replace the session ``external_id`` with ``data`` (idempotent; restores a removed one).

    ``platform`` marks a write by the learning platform (the REST API): the session becomes
    ``platform_owned`` and the admin UI stops offering to edit its fields.

    A new session costs one statement per table it writes (the session, its people, hosts, learners and
    audit row), nothing read back: the answer is built from what was written (:class:`Roster`).
    """
    if data.external_id is not None and data.external_id != external_id:
        raise IngestError(
            f"externalId {data.external_id!r} differs from the id in the path {external_id!r}; "
            "send the same id or leave externalId out",
            loc=("body", "externalId"),
        )
    fields = _scalar_fields(data)
    session, created = _claim(db, tenant_id=tenant_id, external_id=external_id, fields=fields, platform=platform)
    if created and db.get_bind().dialect.name == "postgresql":
        return _write_created(db, session=session, data=data, actor=actor)
    if created:
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
    # hosts and learners upserted together (one statement)
    wanted: dict[str, list[Role]] = {}
    for email, _role in data.host_emails():
        wanted.setdefault(email.lower(), []).append(Role.ORGANIZER)
    for item in data.enrollments or ():
        wanted.setdefault(item.email.lower(), []).append(Role.LEARNER)
    known = ensure_roles(
        db=db, tenant_id=tenant_id, wanted=wanted, names={i.email: i.display_name for i in data.enrollments or ()}
    )
    host_ids = _set_hosts(db, session=session, data=data, new=created, known=known)
    if host_ids is not None:
        changed = True
    else:
        host_ids = host_person_ids(db, session)
    enrolled: int | None = 0 if created else None  # a new session's roster is what this write put in it
    waitlisted = 0
    if data.enrollments is not None:
        applied = upsert_enrollments(
            db,
            session=session,
            items=data.enrollments,
            replace=True,
            loc=("body", "enrollments"),
            hosts=host_ids,
            check_cap=False,
            known=known,
            new=created,
        )
        if applied.changed:
            changed = True
        if created:
            enrolled, waitlisted = _counts(data.enrollments)
    if changed:
        _enforce_cap(db, session=session, data=data, hosts=len(host_ids), enrolled=enrolled)
    if changed and not created:
        bump(session)
    if changed:
        db.add(session)
        audit(
            db,
            session=session,
            actor=actor,
            action="session.create" if created else "session.update",
            detail={"revision": session.revision},
        )
        db.flush()
    roster = None
    if created:
        hosts = tuple((email.lower(), role.value) for email, role in data.host_emails())
        roster = Roster(hosts=hosts, enrolled=enrolled or 0, waitlisted=waitlisted)
    return WriteResult(session=session, created=created, changed=changed, roster=roster)


def _counts(items: Sequence[EnrollmentCreate]) -> tuple[int, int]:
    """How many of a request's learners are enrolled and how many waitlisted."""
    enrolled = sum(1 for i in items if i.status == EnrollmentStatus.ENROLLED)
    waitlisted = sum(1 for i in items if i.status == EnrollmentStatus.WAITLISTED)
    return enrolled, waitlisted


def _enforce_cap(db: Session, *, session: LiveSession, data: SessionCreate, hosts: int, enrolled: int | None) -> None:
    """The attendee cap for a session write, a refusal naming the request's learners (or its co-hosts when it
    sends no learner list)."""
    loc = ("body", "enrollments" if data.enrollments is not None else "coHosts")
    enforce_cap(db, session=session, hosts=hosts, loc=loc, enrolled=enrolled)


def _write_created(db: Session, *, session: LiveSession, data: SessionCreate, actor: str) -> WriteResult:
    """What a session just created by :func:`_claim` brings along, on PostgreSQL in one statement
    (:mod:`engine.ingest.create`): the cap checked on the request alone first (a new session has nothing stored;
    a host listed as a learner is refused by :class:`~engine.api.schemas.SessionCreate` itself)."""
    hosts = [(email.lower(), role) for email, role in data.host_emails()]
    host_emails = {email for email, _ in hosts}
    items = list(data.enrollments or ())
    enrolled, waitlisted = _counts(items)
    _enforce_cap(db, session=session, data=data, hosts=len(host_emails), enrolled=enrolled)
    wanted: dict[str, list[str]] = {}
    for email in host_emails:
        wanted.setdefault(email, []).append(Role.ORGANIZER.value)
    for item in items:
        bucket = wanted.setdefault(item.email.lower(), [])
        if Role.LEARNER.value not in bucket:
            bucket.append(Role.LEARNER.value)
    names = {i.email.lower(): i.display_name for i in items}
    now = utcnow()
    people = [
        new_row(Person, id=uuid.uuid4(), tenant_id=session.tenant_id, email=email, roles=roles,
                display_name=names.get(email), created_at=now, updated_at=now)
        for email, roles in sorted(wanted.items())
    ]
    host_rows = [
        {**new_row(SessionHost, id=uuid.uuid4(), session_id=session.id, person_id=None, role=role.value,
                   position=position), "email": email}
        for position, (email, role) in enumerate(hosts)
    ]
    learner_rows = [
        {**new_row(Enrollment, id=uuid.uuid4(), session_id=session.id, person_id=None, status=item.status.value,
                   created_at=joined_at(now, position), updated_at=now), "email": item.email.lower()}
        for position, item in enumerate(items)
        if item.status != EnrollmentStatus.CANCELLED
    ]
    audit_row = new_row(
        AuditEvent, id=uuid.uuid4(), tenant_id=session.tenant_id, actor=actor, action="session.create",
        session_id=session.id, subject=session.external_id, detail={"revision": session.revision},
    )
    written = write_new_session(
        db, tenant_id=session.tenant_id, session_id=session.id, people=people, hosts=host_rows,
        learners=learner_rows, audit_row=audit_row,
    )
    add_roles(db, people=written.people, wanted=wanted, names=names, now=now)
    roster = Roster(hosts=tuple((email, role.value) for email, role in hosts), enrolled=enrolled,
                    waitlisted=waitlisted)
    return WriteResult(session=session, created=True, changed=True, roster=roster)


def set_status(
    *, db: Session, session: LiveSession, status: SessionStatus, actor: str, reason: str | None = None
) -> bool:
    """Cancel or reopen a session. Returns whether the status changed."""
    if session.status == status.value:
        return False
    session.status = status.value
    bump(session)
    db.add(session)
    audit(
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
    bump(session)
    db.add(session)
    audit(db, session=session, actor=actor, action="session.delete")
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
