"""Builds a small two-tenant world for the admin UI tests: people per role, sessions, bindings, audit.

Where it sits: used by ``tests/admin_ui/conftest.py``. Writes rows directly through the model (the
engine's own writers are tested in their packages); one argon2 hash is computed once and shared.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    Enrollment,
    GoogleConnection,
    LiveSession,
    Person,
    PersonStatus,
    SessionHost,
    Tenant,
)

PASSWORD = "correct horse battery"
#: Cheap argon2 parameters for tests only (a sign-in per test); production uses argon2-cffi's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_HASH = FAST_HASHER.hash(PASSWORD)


@dataclass
class TenantWorld:
    tenant_id: uuid.UUID
    slug: str
    people: dict[str, uuid.UUID] = field(default_factory=dict)  #: role name → person id
    emails: dict[str, str] = field(default_factory=dict)
    own_session: uuid.UUID | None = None  #: hosted by the organizer
    other_session: uuid.UUID | None = None  #: hosted by someone else


@dataclass
class World:
    acme: TenantWorld
    other: TenantWorld


def _tenant(db: Session, slug: str, mode: str) -> TenantWorld:
    tenant = Tenant(
        slug=slug,
        name=slug.title() + " Learning",
        google_domain=f"{slug}.example",
        integration_mode=mode,
        vendor_owner_emails=[f"owner1@muster-{slug}.example"],
    )
    db.add(tenant)
    db.flush()
    world = TenantWorld(tenant_id=tenant.id, slug=slug)
    for role in ("admin", "organizer", "viewer"):
        email = f"{role}@{slug}.example"
        person = Person(
            tenant_id=tenant.id,
            email=email,
            display_name=role.title(),
            roles=[role],
            admin_role=role,
            password_hash=_HASH,
        )
        db.add(person)
        db.flush()
        world.people[role], world.emails[role] = person.id, email
    learner = Person(
        tenant_id=tenant.id, email=f"learner@{slug}.example", roles=["learner"], password_hash=_HASH
    )
    colleague = Person(
        tenant_id=tenant.id,
        email=f"colleague@{slug}.example",
        roles=["organizer"],
        status=PersonStatus.LEAVING.value,
    )
    waiting = Person(tenant_id=tenant.id, email=f"waiting@{slug}.example", roles=["learner"])
    db.add_all([learner, colleague, waiting])
    db.flush()
    world.people["learner"], world.emails["learner"] = learner.id, learner.email
    world.people["colleague"] = colleague.id
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    for attr, host, title in (
        ("own_session", world.people["organizer"], "Intro to SQL"),
        ("other_session", colleague.id, "Advanced Git"),
    ):
        s = LiveSession(
            tenant_id=tenant.id,
            external_id=f"{slug}-{attr}",
            title=title,
            start_at=start,
            end_at=start + timedelta(hours=1),
            time_zone="Europe/Berlin",
            video="meet",
        )
        db.add(s)
        db.flush()
        db.add(SessionHost(session_id=s.id, person_id=host, role="organizer", position=0))
        db.add(Enrollment(session_id=s.id, person_id=learner.id, status="enrolled"))
        db.add(Enrollment(session_id=s.id, person_id=waiting.id, status="waitlisted"))
        setattr(world, attr, s.id)
    db.add(
        CalendarBinding(
            tenant_id=tenant.id,
            session_id=world.own_session,
            sync_status="synced",
            meet_link="https://meet.google.com/abc-defg-hij",
            meet_status="success",
            owner_email=world.emails["organizer"],
            last_synced_at=start - timedelta(days=3),
        )
    )
    db.add(
        CalendarBinding(
            tenant_id=tenant.id,
            session_id=world.other_session,
            sync_status="error",
            error_class="auth",
            last_error="invalid_grant: token revoked",
        )
    )
    db.add(
        GoogleConnection(
            tenant_id=tenant.id,
            person_id=world.people["organizer"],
            google_email=world.emails["organizer"],
            kind=ConnectionKind.OAUTH.value,
            status=ConnectionStatus.CONNECTED.value,
        )
    )
    db.add(
        GoogleConnection(
            tenant_id=tenant.id,
            person_id=colleague.id,
            google_email=colleague.email,
            kind=ConnectionKind.OAUTH.value,
            status=ConnectionStatus.REVOKED.value,
            last_error="Google refused the stored access (invalid_grant).",
        )
    )
    for i in range(3):
        db.add(
            AuditEvent(
                tenant_id=tenant.id,
                actor="worker",
                action="sync.created" if i == 0 else "sync.updated",
                session_id=world.own_session,
                subject=f"{slug}-own_session",
                detail={"n": i},
                at=start - timedelta(days=3, minutes=10 - i),
            )
        )
    return world


def build_world(engine: Engine) -> World:
    with Session(engine) as db:
        acme = _tenant(db, "acme", "delegation")
        other = _tenant(db, "globex", "vendor")
        db.commit()
    return World(acme=acme, other=other)
