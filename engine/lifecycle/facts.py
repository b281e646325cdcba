"""Facts the successor policy needs, read from the database.

Where it sits: the read side of :mod:`engine.lifecycle`. Turns rows (sessions, hosts, people, Google
connections, bindings, the tenant) into the plain :mod:`policies.successor` dataclasses, so the preview,
the transfer and the SPOF report all decide from the same facts. Never writes.

A session's *acting owner* is its binding's ``owner_email`` (whose calendar holds the event); a session
never synced yet is owned by its first host. Only upcoming sessions count: scheduled, not deleted and
not yet ended (Google's Data Transfer moves only future events too).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, or_, select

from engine.errors import TenantSettingInvalid
from engine.store.models import (
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    DelegationMethod,
    GoogleConnection,
    LiveSession,
    Person,
    SessionHost,
    SessionStatus,
    Tenant,
)
from policies.schema import SettingError
from policies.successor import FallbackFacts, HostFacts, SessionFacts, SuccessorRules


def norm_email(email: str) -> str:
    return email.strip().lower()


def working_connection_ids(db: Session, tenant: Tenant, people: Iterable[Person]) -> set[uuid.UUID]:
    """The people Muster can act as in Google now (the same rule as delegation's ``actor_for``).

    A connected OAuth connection always counts; with domain-wide delegation every person of the
    tenant's Google domain counts unless their delegation row says Google refused them.
    """
    people = list(people)
    if not people:
        return set()
    conns: dict[uuid.UUID, dict[str, str]] = {}
    for c in db.exec(select(GoogleConnection).where(
            col(GoogleConnection.person_id).in_([p.id for p in people]))).all():
        conns.setdefault(c.person_id, {})[c.kind] = c.status
    dwd = tenant.delegation_method == DelegationMethod.DOMAIN_WIDE.value
    domain = (tenant.google_domain or "").lower()
    return {p.id for p in people if _can_act(conns.get(p.id, {}), p.email, dwd, domain)}


def _can_act(conns: dict[str, str], email: str, dwd: bool, domain: str) -> bool:
    connected = ConnectionStatus.CONNECTED.value
    if conns.get(ConnectionKind.OAUTH.value) == connected:
        return True
    delegation = conns.get(ConnectionKind.DELEGATION.value)
    if not dwd:
        return delegation == connected
    in_domain = not domain or email.rsplit("@", 1)[-1] == domain
    return in_domain and delegation in (None, connected)


def find_person(db: Session, tenant_id: uuid.UUID, email: str) -> Person | None:
    return db.exec(select(Person).where(Person.tenant_id == tenant_id,
                                        Person.email == norm_email(email))).first()


@dataclass(frozen=True)
class SessionContext:
    """One upcoming session with its binding and the policy's view of it."""

    session: LiveSession
    binding: CalendarBinding | None
    facts: SessionFacts


def upcoming_filter(now: datetime) -> list[Any]:
    """WHERE clauses for upcoming sessions: scheduled, not deleted, not yet ended."""
    return [col(LiveSession.deleted_at).is_(None), LiveSession.status == SessionStatus.SCHEDULED.value,
            col(LiveSession.end_at) > now]


def candidate_session_ids(db: Session, tenant_id: uuid.UUID, emails: Sequence[str],
                          now: datetime) -> list[uuid.UUID]:
    """Upcoming sessions where one of ``emails`` is a host or the binding's owner."""
    emails = [norm_email(e) for e in emails]
    hosted = select(SessionHost.session_id).join(Person, col(Person.id) == SessionHost.person_id).where(
        Person.tenant_id == tenant_id, col(Person.email).in_(emails))
    owned = select(CalendarBinding.session_id).where(CalendarBinding.tenant_id == tenant_id,
                                                      col(CalendarBinding.owner_email).in_(emails))
    rows = db.exec(select(LiveSession.id).where(
        LiveSession.tenant_id == tenant_id, *upcoming_filter(now),
        or_(col(LiveSession.id).in_(hosted), col(LiveSession.id).in_(owned)),
    ).order_by(col(LiveSession.start_at), col(LiveSession.id))).all()
    return list(rows)


def session_contexts(db: Session, session_ids: Sequence[uuid.UUID]) -> list[SessionContext]:
    """Load sessions, bindings, hosts and connections for ``session_ids`` in a few queries."""
    if not session_ids:
        return []
    ids = list(session_ids)
    sessions = {s.id: s for s in db.exec(select(LiveSession).where(col(LiveSession.id).in_(ids))).all()}
    bindings = {b.session_id: b for b in db.exec(
        select(CalendarBinding).where(col(CalendarBinding.session_id).in_(ids))).all()}
    host_rows = db.exec(select(SessionHost, Person).join(Person, col(Person.id) == SessionHost.person_id)
                        .where(col(SessionHost.session_id).in_(ids))).all()
    tenants = {t.id: t for t in db.exec(select(Tenant).where(
        col(Tenant.id).in_({s.tenant_id for s in sessions.values()}))).all()}
    connected: set[uuid.UUID] = set()
    for tid, tenant in tenants.items():
        connected |= working_connection_ids(db, tenant, [p for _h, p in host_rows if p.tenant_id == tid])
    hosts: dict[uuid.UUID, list[HostFacts]] = {}
    for h, p in host_rows:
        hosts.setdefault(h.session_id, []).append(HostFacts(
            email=p.email, position=h.position, role=h.role, status=p.status, connected=p.id in connected))
    out = []
    for sid in ids:
        s = sessions.get(sid)
        if s is None:
            continue
        b = bindings.get(sid)
        facts = SessionFacts(session_id=str(sid), title=s.title,
                             hosts=tuple(sorted(hosts.get(sid, []), key=lambda x: x.position)),
                             owner_email=b.owner_email if b else None)
        out.append(SessionContext(session=s, binding=b, facts=facts))
    return out


def fallback_facts(db: Session, tenant: Tenant) -> FallbackFacts:
    """The tenant's fallback owner as the policy sees it (a person Muster never saw counts as connected
    under domain-wide delegation when they are in the tenant's domain, else as not connected)."""
    email = tenant.fallback_owner_email
    if not email:
        return FallbackFacts(None)
    person = find_person(db, tenant.id, email)
    if person is None:
        # Never seen as a host: with domain-wide delegation Muster can act as anyone of the domain, so no
        # "Connect Google" is needed; with per-organizer consent they must connect first.
        dwd = tenant.delegation_method == DelegationMethod.DOMAIN_WIDE.value
        domain = (tenant.google_domain or "").lower()
        return FallbackFacts(norm_email(email), "active", _can_act({}, norm_email(email), dwd, domain))
    return FallbackFacts(person.email, person.status, bool(working_connection_ids(db, tenant, [person])))


def successor_rules(tenant: Tenant) -> SuccessorRules:
    """The tenant's successor rules. A stored value the schema refuses (an older version's, a hand edit)
    raises :class:`~engine.errors.TenantSettingInvalid` naming the setting and the fix: guessing the
    defaults would report, preview or transfer under rules nobody chose."""
    try:
        return SuccessorRules.from_settings((tenant.settings or {}).get("successor"))
    except SettingError as exc:
        raise TenantSettingInvalid(tenant.slug, exc) from None
