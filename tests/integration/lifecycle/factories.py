"""Rows for lifecycle tests: a delegation-mode tenant, organizers with connections, sessions and hosts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from engine.store.models import (
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    Enrollment,
    GoogleConnection,
    HostRole,
    IntegrationMode,
    LiveSession,
    Person,
    SessionHost,
    SyncStatus,
    Tenant,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def tenant(db: Session, *, slug: str = "acme", fallback: str | None = None,
           mode: IntegrationMode = IntegrationMode.DELEGATION) -> Tenant:
    t = Tenant(slug=slug, name=slug.title(), google_domain="acme.example", integration_mode=mode.value,
               directory_admin_email="it-admin@acme.example", fallback_owner_email=fallback)
    db.add(t)
    db.flush()
    return t


def person(db: Session, t: Tenant, email: str, *, connected: bool = True, status: str = "active",
           roles: tuple[str, ...] = ("organizer",)) -> Person:
    p = Person(tenant_id=t.id, email=email, roles=list(roles), status=status)
    db.add(p)
    db.flush()
    if connected:
        db.add(GoogleConnection(tenant_id=t.id, person_id=p.id, google_email=email,
                                kind=ConnectionKind.DELEGATION.value,
                                status=ConnectionStatus.CONNECTED.value))
    return p


def session(db: Session, t: Tenant, hosts: list[Person], *, title: str = "Design thinking",
            days: int = 10, owner: str | None = None, learners: list[Person] | None = None,
            deleted: bool = False) -> LiveSession:
    start = NOW + timedelta(days=days)
    s = LiveSession(tenant_id=t.id, external_id=f"sess-{uuid.uuid4().hex[:8]}", title=title, start_at=start,
                    end_at=start + timedelta(hours=1), time_zone="Europe/Berlin",
                    deleted_at=NOW if deleted else None)
    db.add(s)
    db.flush()
    for i, h in enumerate(hosts):
        db.add(SessionHost(session_id=s.id, person_id=h.id, position=i,
                           role=HostRole.ORGANIZER.value if i == 0 else HostRole.CO_HOST.value))
    for learner in learners or []:
        db.add(Enrollment(session_id=s.id, person_id=learner.id))
    if owner:
        db.add(CalendarBinding(tenant_id=t.id, session_id=s.id, calendar_id=owner, owner_email=owner,
                               event_id="abcdefghij" + uuid.uuid4().hex[:10].replace("w", "0"),
                               sync_status=SyncStatus.SYNCED.value))
    db.flush()
    return s
