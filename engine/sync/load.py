"""Reads one session's rows into :class:`~engine.domain.desired.SessionFacts` (plain values for the pure layers).

Where it sits: the first step of :meth:`engine.sync.reconciler.SessionReconciler.reconcile`. Read-only: it
takes a database session and returns values; it never writes or commits.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from engine.domain.desired import EnrollmentFacts, HostFacts, SessionFacts, TenantFacts
from engine.store.models import Enrollment, LiveSession, Person, SessionHost, Tenant


def _display(person: Person) -> str | None:
    return person.display_name or None


def tenant_facts(tenant: Tenant) -> TenantFacts:
    return TenantFacts(
        id=tenant.id,
        slug=tenant.slug,
        integration_mode=tenant.integration_mode,
        vendor_owner_emails=tuple(tenant.vendor_owner_emails or ()),
        google_domain=tenant.google_domain,
        settings=dict(tenant.settings or {}),
    )


def load_facts(*, db: Session, session_id: uuid.UUID) -> SessionFacts | None:
    """The session with its tenant, hosts and enrollments, or ``None`` when no such row exists."""
    row = db.get(LiveSession, session_id)
    if row is None:
        return None
    tenant = db.get(Tenant, row.tenant_id)
    if tenant is None:
        return None
    hosts = db.exec(
        select(SessionHost, Person).where(
            SessionHost.session_id == session_id, SessionHost.person_id == Person.id
        )
    ).all()
    enrollments = db.exec(
        select(Enrollment, Person).where(
            Enrollment.session_id == session_id, Enrollment.person_id == Person.id
        )
    ).all()
    return SessionFacts(
        id=row.id,
        tenant=tenant_facts(tenant),
        external_id=row.external_id,
        title=row.title,
        description=row.description or "",
        start_at=row.start_at,
        end_at=row.end_at,
        time_zone=row.time_zone,
        status=row.status,
        deleted=row.deleted_at is not None,
        revision=row.revision,
        recurrence=row.recurrence,
        location=row.location,
        video=row.video,
        manual_join_link=row.manual_join_link,
        room_email=row.room_email,
        room_wanted=bool(row.room_wanted),
        url=row.platform_url,
        hosts=tuple(
            HostFacts(
                email=p.email.lower(),
                display_name=_display(p),
                role=h.role,
                position=h.position,
                person_status=p.status,
            )
            for h, p in sorted(hosts, key=lambda hp: (hp[0].position, hp[1].email))
        ),
        enrollments=tuple(
            EnrollmentFacts(
                email=p.email.lower(), display_name=_display(p), status=e.status, person_status=p.status
            )
            for e, p in sorted(enrollments, key=lambda ep: ep[1].email)
        ),
    )
