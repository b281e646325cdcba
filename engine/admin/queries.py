"""Read-side queries for the admin UI: session lists with counts, organizer health, audit pages.

Where it sits: the admin UI (:mod:`admin_ui.views`) calls these with its unit of work's ``db``; they read
the domain model (:mod:`engine.store.models`) and never write, except :func:`record_audit`, which adds a
row the caller commits (tenant settings are written by :mod:`engine.admin.tenant_setup`). Every function
takes the signed-in ``tenant_id`` and filters by it (helpers that take ids join back to the tenant too), so
an id from another tenant simply finds nothing: scope by construction, not by each view's care.

Not done here: syncing, OAuth, mode switches; those live in their own engine modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    ConnectionStatus,
    DelegationMethod,
    Enrollment,
    EnrollmentStatus,
    GoogleConnection,
    HostRole,
    IntegrationMode,
    LiveSession,
    Person,
    PersonStatus,
    Role,
    SessionHost,
    SessionStatus,
    SyncStatus,
    Tenant,
)

#: Problem filters offered on the sessions list, with their labels.
PROBLEMS: dict[str, str] = {
    "sync_error": "Sync error",
    "blocked": "Blocked (needs someone to act)",
    "pending": "Not synced yet",
    "meet_failed": "Meet link failed",
    "room_declined": "Room declined or missing",
}


@dataclass(frozen=True)
class SessionRow:
    session: LiveSession
    binding: CalendarBinding | None
    organizer_email: str | None
    enrolled: int
    waitlisted: int
    organizer_name: str | None = None


@dataclass(frozen=True)
class Page:
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _problem_clause(problem: str) -> Any:
    binding = CalendarBinding
    if problem == "sync_error":
        return col(binding.sync_status) == SyncStatus.ERROR.value
    if problem == "blocked":
        return col(binding.sync_status) == SyncStatus.BLOCKED.value
    if problem == "pending":
        return or_(col(binding.id).is_(None), col(binding.sync_status) == SyncStatus.PENDING.value)
    if problem == "meet_failed":
        return or_(col(binding.meet_status) == "failure", col(binding.meet_error).is_not(None))
    if problem == "room_declined":
        return (col(LiveSession.room_wanted).is_(True)) & or_(
            col(binding.room_status) == "declined",
            col(binding.room_error).is_not(None),
            col(binding.room_email).is_(None),
        )
    raise ValueError(f"unknown problem filter {problem!r}")


def list_sessions(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    status: str | None = None,
    problem: str | None = None,
    host_person_id: uuid.UUID | None = None,
    query: str | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[SessionRow], Page]:
    """Sessions of the tenant (newest start first) with binding and enrollment counts.

    ``status`` is a :class:`SessionStatus` value or ``"removed"``; ``problem`` a key of :data:`PROBLEMS`;
    ``host_person_id`` limits to sessions the person hosts (an organizer's own sessions).
    """
    stmt = (
        select(LiveSession, CalendarBinding)
        .join(CalendarBinding, col(CalendarBinding.session_id) == LiveSession.id, isouter=True)
        .where(LiveSession.tenant_id == tenant_id)
    )
    if status == "removed":
        stmt = stmt.where(col(LiveSession.deleted_at).is_not(None))
    else:
        stmt = stmt.where(col(LiveSession.deleted_at).is_(None))
        if status:
            stmt = stmt.where(LiveSession.status == status)
    if problem:
        stmt = stmt.where(_problem_clause(problem))
    if host_person_id is not None:
        hosted = select(SessionHost.session_id).where(SessionHost.person_id == host_person_id)
        stmt = stmt.where(col(LiveSession.id).in_(hosted))
    if query:
        like = f"%{query.strip()}%"
        stmt = stmt.where(or_(col(LiveSession.title).ilike(like), col(LiveSession.external_id).ilike(like)))
    total = db.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = max(1, page)
    rows = db.exec(
        stmt.order_by(col(LiveSession.start_at).desc(), col(LiveSession.id))
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    ids = [s.id for s, _b in rows]
    counts = enrollment_counts(db=db, tenant_id=tenant_id, session_ids=ids)
    organizers = organizer_people(db=db, tenant_id=tenant_id, session_ids=ids)
    result = [
        SessionRow(
            session=s,
            binding=b,
            organizer_email=organizers[s.id][0] if s.id in organizers else None,
            organizer_name=organizers[s.id][1] if s.id in organizers else None,
            enrolled=counts.get((s.id, EnrollmentStatus.ENROLLED.value), 0),
            waitlisted=counts.get((s.id, EnrollmentStatus.WAITLISTED.value), 0),
        )
        for s, b in rows
    ]
    return result, Page(number=page, size=page_size, total=int(total))


def enrollment_counts(
    *, db: Session, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], int]:
    if not session_ids:
        return {}
    rows = db.exec(
        select(Enrollment.session_id, Enrollment.status, func.count())
        .join(LiveSession, col(LiveSession.id) == Enrollment.session_id)
        .where(LiveSession.tenant_id == tenant_id, col(Enrollment.session_id).in_(list(session_ids)))
        .group_by(col(Enrollment.session_id), col(Enrollment.status))
    ).all()
    return {(sid, st): int(n) for sid, st, n in rows}


def organizer_people(
    *, db: Session, tenant_id: uuid.UUID, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str | None]]:
    """``(email, display name)`` of the first host (lowest position) of each session."""
    if not session_ids:
        return {}
    rows = db.exec(
        select(SessionHost.session_id, Person.email, Person.display_name)
        .join(Person, col(Person.id) == SessionHost.person_id)
        .where(Person.tenant_id == tenant_id, col(SessionHost.session_id).in_(list(session_ids)))
        .order_by(col(SessionHost.position))
    ).all()
    found: dict[uuid.UUID, tuple[str, str | None]] = {}
    for sid, email, name in rows:
        found.setdefault(sid, (email, name or None))
    return found


def get_session(*, db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID) -> LiveSession | None:
    """The session if it belongs to ``tenant_id`` (None otherwise: the caller answers 404)."""
    found = db.get(LiveSession, session_id)
    if found is None or found.tenant_id != tenant_id:
        return None
    return found


@dataclass(frozen=True)
class HostView:
    person: Person
    role: str
    position: int
    connection: GoogleConnection | None
    without_connection: str = "not_connected"  #: see :attr:`OrganizerRow.without_connection`
    #: The host's answer in Google as last seen (None: not seen) and its comment.
    answer: str | None = None
    answer_comment: str | None = None

    @property
    def connection_status(self) -> str:
        return self.connection.status if self.connection else self.without_connection


@dataclass(frozen=True)
class AttendeeView:
    person: Person
    status: str
    #: The learner's answer in Google as last seen (None: not seen, e.g. never invited) and its comment.
    answer: str | None = None
    answer_comment: str | None = None


@dataclass(frozen=True)
class SessionDetail:
    session: LiveSession
    binding: CalendarBinding | None
    hosts: list[HostView]
    attendees: list[AttendeeView]
    history: list[AuditEvent]

    @property
    def enrolled(self) -> list[AttendeeView]:
        return [a for a in self.attendees if a.status == EnrollmentStatus.ENROLLED.value]

    @property
    def waitlisted(self) -> list[AttendeeView]:
        return [a for a in self.attendees if a.status == EnrollmentStatus.WAITLISTED.value]


def session_hosts(*, db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID) -> list[HostView]:
    rows = db.exec(
        select(SessionHost, Person)
        .join(Person, col(Person.id) == SessionHost.person_id)
        .where(Person.tenant_id == tenant_id, SessionHost.session_id == session_id)
        .order_by(col(SessionHost.position))
    ).all()
    conns = connections_by_person(db=db, tenant_id=tenant_id, person_ids=[p.id for _h, p in rows])
    return [
        HostView(
            person=p, role=h.role, position=h.position, connection=conns.get(p.id), answer=h.response_status,
            answer_comment=h.response_comment,
        )
        for h, p in rows
    ]


def session_detail(
    *, db: Session, tenant_id: uuid.UUID, session_id: uuid.UUID, history_limit: int = 50
) -> SessionDetail | None:
    found = get_session(db=db, tenant_id=tenant_id, session_id=session_id)
    if found is None:
        return None
    binding = db.exec(
        select(CalendarBinding).where(CalendarBinding.tenant_id == tenant_id, CalendarBinding.session_id == found.id)
    ).first()
    enrollments = db.exec(
        select(Enrollment, Person)
        .join(Person, col(Person.id) == Enrollment.person_id)
        .where(Person.tenant_id == tenant_id, Enrollment.session_id == found.id)
        .order_by(col(Enrollment.created_at), col(Person.email))
    ).all()
    history = db.exec(
        select(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id, AuditEvent.session_id == found.id)
        .order_by(col(AuditEvent.at).desc())
        .limit(history_limit)
    ).all()
    return SessionDetail(
        session=found,
        binding=binding,
        hosts=[
            HostView(
                h.person, h.role, h.position, h.connection, _without_connection(db.get(Tenant, tenant_id)),
                h.answer, h.answer_comment,
            )
            for h in session_hosts(db=db, tenant_id=tenant_id, session_id=found.id)
        ],
        attendees=[
            AttendeeView(person=p, status=e.status, answer=e.response_status, answer_comment=e.response_comment)
            for e, p in enrollments
        ],
        history=list(history),
    )


def connections_by_person(
    *, db: Session, tenant_id: uuid.UUID, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, GoogleConnection]:
    """Each person's most relevant Google connection (a connected one first, then the newest)."""
    if not person_ids:
        return {}
    rows = db.exec(
        select(GoogleConnection)
        .where(GoogleConnection.tenant_id == tenant_id, col(GoogleConnection.person_id).in_(list(person_ids)))
        .order_by(col(GoogleConnection.updated_at).desc())
    ).all()
    best: dict[uuid.UUID, GoogleConnection] = {}
    for conn in rows:
        current = best.get(conn.person_id)
        if current is None or (
            conn.status == ConnectionStatus.CONNECTED.value and current.status != ConnectionStatus.CONNECTED.value
        ):
            best[conn.person_id] = conn
    return best


def people_with_role(*, db: Session, tenant_id: uuid.UUID, role: str) -> list[Person]:
    people = db.exec(select(Person).where(Person.tenant_id == tenant_id).order_by(col(Person.email))).all()
    return [p for p in people if role in p.roles]


def get_person(*, db: Session, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Person | None:
    found = db.get(Person, person_id)
    if found is None or found.tenant_id != tenant_id:
        return None
    return found


#: Connection states that need the organizer (or an admin) to act.
CONNECTION_PROBLEMS = ("not_connected", "expired", "revoked", "suspended")


@dataclass(frozen=True)
class OrganizerRow:
    person: Person
    connection: GoogleConnection | None
    upcoming_sessions: int
    #: What "no connection" means in the tenant's set-up: ``not_connected`` (each organizer consents with
    #: OAuth), ``domain_wide`` (the service account acts for them) or ``not_needed`` (vendor mode).
    without_connection: str = "not_connected"

    @property
    def connection_status(self) -> str:
        if self.person.status == PersonStatus.SUSPENDED.value:
            return ConnectionStatus.SUSPENDED.value
        return self.connection.status if self.connection else self.without_connection

    @property
    def needs_action(self) -> bool:
        return self.connection_status in CONNECTION_PROBLEMS


def connection_status_of(tenant: Tenant | None, person: Person, connection: GoogleConnection | None) -> str:
    """One person's Google connection as the Organizers page and My Google both show it: the connection's
    own status, else what "no connection" means in the tenant's set-up (``not_needed`` in vendor mode,
    ``domain_wide`` under domain-wide delegation, ``not_connected`` when each organizer must consent)."""
    return OrganizerRow(person, connection, 0, _without_connection(tenant)).connection_status


def _without_connection(tenant: Tenant | None) -> str:
    if tenant is None or tenant.integration_mode != IntegrationMode.DELEGATION.value:
        return "not_needed"
    return "domain_wide" if tenant.delegation_method == DelegationMethod.DOMAIN_WIDE.value else "not_connected"


def organizer_rows(*, db: Session, tenant_id: uuid.UUID, now: datetime) -> list[OrganizerRow]:
    organizers = people_with_role(db=db, tenant_id=tenant_id, role=Role.ORGANIZER.value)
    conns = connections_by_person(db=db, tenant_id=tenant_id, person_ids=[p.id for p in organizers])
    counts = dict(
        db.exec(
            select(SessionHost.person_id, func.count())
            .join(LiveSession, col(LiveSession.id) == SessionHost.session_id)
            .where(
                LiveSession.tenant_id == tenant_id,
                col(LiveSession.deleted_at).is_(None),
                LiveSession.status == SessionStatus.SCHEDULED.value,
                col(LiveSession.end_at) >= now,
            )
            .group_by(col(SessionHost.person_id))
        ).all()
    )
    without = _without_connection(db.get(Tenant, tenant_id))
    return [
        OrganizerRow(
            person=p,
            connection=conns.get(p.id),
            upcoming_sessions=int(counts.get(p.id, 0)),
            without_connection=without,
        )
        for p in organizers
    ]


@dataclass
class HealthCounts:
    """What the database alone says about sync: statuses, error classes, sessions needing attention."""

    by_status: dict[str, int] = field(default_factory=dict)
    errors_by_class: dict[str, int] = field(default_factory=dict)
    owners: dict[str, int] = field(default_factory=dict)
    last_synced_at: datetime | None = None
    attention: list[SessionRow] = field(default_factory=list)
    unsynced_sessions: int = 0


def health_counts(*, db: Session, tenant_id: uuid.UUID, attention_limit: int = 20) -> HealthCounts:
    out = HealthCounts()
    for st, n in db.exec(
        select(CalendarBinding.sync_status, func.count())
        .where(CalendarBinding.tenant_id == tenant_id)
        .group_by(col(CalendarBinding.sync_status))
    ).all():
        out.by_status[st] = int(n)
    for cls, n in db.exec(
        select(CalendarBinding.error_class, func.count())
        .where(CalendarBinding.tenant_id == tenant_id, col(CalendarBinding.error_class).is_not(None))
        .group_by(col(CalendarBinding.error_class))
    ).all():
        out.errors_by_class[str(cls)] = int(n)
    for owner, n in db.exec(
        select(CalendarBinding.owner_email, func.count())
        .where(CalendarBinding.tenant_id == tenant_id, col(CalendarBinding.owner_email).is_not(None))
        .group_by(col(CalendarBinding.owner_email))
    ).all():
        out.owners[str(owner)] = int(n)
    out.last_synced_at = db.exec(
        select(func.max(CalendarBinding.last_synced_at)).where(CalendarBinding.tenant_id == tenant_id)
    ).one()
    if out.last_synced_at is not None and out.last_synced_at.tzinfo is None:
        out.last_synced_at = out.last_synced_at.replace(tzinfo=UTC)
    out.unsynced_sessions = int(
        db.exec(
            select(func.count())
            .select_from(LiveSession)
            .join(CalendarBinding, col(CalendarBinding.session_id) == LiveSession.id, isouter=True)
            .where(
                LiveSession.tenant_id == tenant_id,
                col(LiveSession.deleted_at).is_(None),
                col(CalendarBinding.id).is_(None),
            )
        ).one()
    )
    attention: list[SessionRow] = []
    for problem in ("blocked", "sync_error", "meet_failed"):
        rows, _ = list_sessions(db=db, tenant_id=tenant_id, problem=problem, page_size=attention_limit)
        attention.extend(r for r in rows if r.session.id not in {a.session.id for a in attention})
    out.attention = attention[:attention_limit]
    return out


def list_audit(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    action: str | None = None,
    session_id: uuid.UUID | None = None,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[AuditEvent], Page]:
    """Audit events of the tenant, newest first. ``until`` is inclusive (the whole day, UTC)."""
    stmt = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if action:
        stmt = stmt.where(col(AuditEvent.action).startswith(action))
    if session_id is not None:
        stmt = stmt.where(AuditEvent.session_id == session_id)
    if actor:
        stmt = stmt.where(col(AuditEvent.actor).ilike(f"%{actor.strip()}%"))
    if since is not None:
        stmt = stmt.where(col(AuditEvent.at) >= datetime.combine(since, time.min, tzinfo=UTC))
    if until is not None:
        stmt = stmt.where(col(AuditEvent.at) <= datetime.combine(until, time.max, tzinfo=UTC))
    total = db.exec(select(func.count()).select_from(stmt.subquery())).one()
    page = max(1, page)
    events = db.exec(
        stmt.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id)).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(events), Page(number=page, size=page_size, total=int(total))


def audit_actions(*, db: Session, tenant_id: uuid.UUID) -> list[str]:
    return sorted(db.exec(select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id).distinct()).all())


def record_audit(
    *,
    db: Session,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    session_id: uuid.UUID | None = None,
    subject: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event (the caller commits)."""
    event = AuditEvent(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        session_id=session_id,
        subject=subject,
        detail=detail or {},
    )
    db.add(event)
    return event


#: Host roles in the order the session form lists them.
HOST_ROLES = [r.value for r in HostRole]
