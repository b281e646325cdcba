"""Reads one session's rows into :class:`~engine.domain.desired.SessionFacts` (plain values for the pure layers).

Where it sits: the first step of :meth:`engine.sync.reconciler.SessionReconciler.reconcile`. Read-only: it
takes a database session and returns values; it never writes or commits.

One round trip (the reconcile's hot path: a sweep runs one per session): the session joined with its
tenant, its binding and the health mark of the identity the binding acts as, with its hosts and its
enrollments with their people (one ``UNION ALL``) aggregated into one JSON array. A Core statement over the
tables' columns, built once per dialect; ``db`` may be an ORM session or a plain connection (the
reconciler's, which costs less). The binding
comes back as a detached ``CalendarBinding`` built from its columns, as the ORM would have loaded it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, literal, union_all
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from engine.domain.desired import EnrollmentFacts, HostFacts, SessionFacts, TenantFacts
from engine.store.loaded import as_loaded
from engine.store.models import (
    CalendarBinding,
    Enrollment,
    GoogleIdentityStatus,
    LiveSession,
    Person,
    SessionHost,
    Tenant,
)


def _tenant_facts(values: dict[str, Any]) -> TenantFacts:
    return TenantFacts(
        id=values["id"],
        slug=values["slug"],
        integration_mode=values["integration_mode"],
        vendor_owner_emails=tuple(values["vendor_owner_emails"] or ()),
        google_domain=values["google_domain"],
        settings=dict(values["settings"] or {}),
    )


@dataclass(frozen=True)
class Loaded:
    """What a reconcile reads before it decides: the facts, the binding (attached to ``db``) and the
    health of the identity the binding acts as (``None``: no mark recorded, the same as ``ok``)."""

    facts: SessionFacts
    binding: CalendarBinding | None
    owner_status: str | None
    #: The guests' answers as stored (lower-cased email -> (response status, comment)), learners and hosts
    #: apart (:func:`engine.sync.answers.answers_recorded` compares them with what Google shows).
    learner_answers: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    host_answers: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


_SESSION = LiveSession.__table__  # type: ignore[attr-defined]
_TENANT = Tenant.__table__  # type: ignore[attr-defined]
_BINDING = CalendarBinding.__table__  # type: ignore[attr-defined]
_SESSION_KEYS = tuple(c.key for c in _SESSION.c)
_TENANT_KEYS = tuple(c.key for c in _TENANT.c)
_BINDING_KEYS = tuple(c.key for c in _BINDING.c)


def _statements(dialect: str) -> Any:
    """The statement of :func:`load` for ``dialect``, built once (a sweep runs it once per session): the
    session's, tenant's and binding's columns, the owner's health mark, and the roster (hosts, then
    enrollments, with their people) as one JSON array of rows (``json_agg`` on PostgreSQL,
    ``json_group_array`` on SQLite; every roster value is a string, an integer or null)."""
    sid = sa.bindparam("session_id", type_=LiveSession.__table__.c.id.type)  # type: ignore[attr-defined]
    owner_status = (
        select(GoogleIdentityStatus.status)
        .where(col(GoogleIdentityStatus.email) == func.lower(col(CalendarBinding.owner_email)))
        .correlate(CalendarBinding)
        .scalar_subquery()
    )
    hosts: Any = (
        sa.select(
            literal("h").label("kind"),
            col(SessionHost.position).label("position"),
            col(SessionHost.role).label("state"),
            col(Person.email),
            col(Person.display_name),
            col(Person.status),
            col(SessionHost.response_status),
            col(SessionHost.response_comment),
        )
        .join(Person, col(Person.id) == col(SessionHost.person_id))
        .where(col(SessionHost.session_id) == sid)
    )
    enrolled: Any = (
        sa.select(
            literal("e").label("kind"),
            literal(0).label("position"),
            col(Enrollment.status).label("state"),
            col(Person.email),
            col(Person.display_name),
            col(Person.status),
            col(Enrollment.response_status),
            col(Enrollment.response_comment),
        )
        .join(Person, col(Person.id) == col(Enrollment.person_id))
        .where(col(Enrollment.session_id) == sid)
    )
    roster = union_all(hosts, enrolled).subquery("roster")
    if dialect == "postgresql":
        people = sa.select(func.json_agg(func.json_build_array(*roster.c)))
    else:
        people = sa.select(func.json_group_array(func.json_array(*roster.c)))
    return (
        sa.select(*_SESSION.c, *_TENANT.c, *_BINDING.c, owner_status, sa.type_coerce(people.scalar_subquery(), sa.JSON))
        .select_from(_SESSION)
        .join(_TENANT, _TENANT.c.id == _SESSION.c.tenant_id)
        .join(_BINDING, _BINDING.c.session_id == _SESSION.c.id, isouter=True)
        .where(_SESSION.c.id == sid)
    )


_built: dict[str, Any] = {}


def load(*, db: Session | Connection, session_id: uuid.UUID) -> Loaded | None:
    """The session with its tenant, binding, hosts and enrollments, or ``None`` when no such row exists."""
    conn = db.connection() if isinstance(db, Session) else db  # a Core statement: no ORM setup
    dialect = conn.dialect.name
    statement = _built.get(dialect)
    if statement is None:
        statement = _built[dialect] = _statements(dialect)
    head = conn.execute(statement, {"session_id": session_id}).first()
    if head is None:
        return None
    s_end = len(_SESSION_KEYS)
    t_end = s_end + len(_TENANT_KEYS)
    b_end = t_end + len(_BINDING_KEYS)
    session_values = dict(zip(_SESSION_KEYS, head[:s_end], strict=True))
    tenant_values = dict(zip(_TENANT_KEYS, head[s_end:t_end], strict=True))
    binding_values = dict(zip(_BINDING_KEYS, head[t_end:b_end], strict=True))
    status = head[b_end]
    binding = None if binding_values["id"] is None else as_loaded(CalendarBinding, binding_values)
    people = head[b_end + 1] or []  # PostgreSQL's json_agg of no row is NULL
    host_rows = sorted((r for r in people if r[0] == "h"), key=lambda r: (r[1], r[3]))
    enrollment_rows = sorted((r for r in people if r[0] == "e"), key=lambda r: r[3])
    row = session_values
    facts = SessionFacts(
        id=row["id"],
        tenant=_tenant_facts(tenant_values),
        external_id=row["external_id"],
        title=row["title"],
        description=row["description"] or "",
        start_at=row["start_at"],
        end_at=row["end_at"],
        time_zone=row["time_zone"],
        status=row["status"],
        deleted=row["deleted_at"] is not None,
        revision=row["revision"],
        recurrence=row["recurrence"],
        location=row["location"],
        video=row["video"],
        manual_join_link=row["manual_join_link"],
        room_email=row["room_email"],
        room_wanted=bool(row["room_wanted"]),
        url=row["platform_url"],
        hosts=tuple(
            HostFacts(
                email=email.lower(),
                display_name=name or None,
                role=role,
                position=position,
                person_status=status_,
                response_status=answer,
                response_comment=comment,
            )
            for _k, position, role, email, name, status_, answer, comment in host_rows
        ),
        enrollments=tuple(
            EnrollmentFacts(
                email=email.lower(),
                display_name=name or None,
                status=state,
                person_status=status_,
                response_status=answer,
                response_comment=comment,
            )
            for _k, _p, state, email, name, status_, answer, comment in enrollment_rows
        ),
    )
    learner_answers = {r[3].lower(): (r[6], r[7]) for r in enrollment_rows}
    host_answers = {r[3].lower(): (r[6], r[7]) for r in host_rows}
    return Loaded(facts, binding, status, learner_answers, host_answers)


def load_facts(*, db: Session, session_id: uuid.UUID) -> SessionFacts | None:
    """The session with its tenant, hosts and enrollments, or ``None`` when no such row exists."""
    loaded = load(db=db, session_id=session_id)
    return None if loaded is None else loaded.facts
