"""Single-point-of-failure report: upcoming sessions that hang on one leaving or suspended organizer.

Where it sits: read side of :mod:`engine.lifecycle`; backs ``GET /v1/reports/spof``,
``muster report spof [--tenant SLUG]`` and the admin UI (call :func:`spof_report`). A session is listed
when the person whose calendar holds its event (the binding's owner, or its first host before the first
sync) is leaving, suspended or deleted, and no co-host can inherit it under the tenant's successor rules
(:mod:`policies.successor`): either the fallback owner will take it, or nobody can yet (``blocked``,
with what an admin must do). Vendor-mode tenants are skipped: Muster's own accounts own their events,
so an organizer leaving changes nothing there. Writes nothing, calls no Google API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from engine.lifecycle.facts import fallback_facts, session_contexts, successor_rules, upcoming_filter
from engine.store.models import IntegrationMode, LiveSession, Person, Tenant
from policies.successor import GONE_STATES, Outcome, choose_successor


@dataclass(frozen=True)
class SpofRow:
    tenant_slug: str
    session_id: uuid.UUID
    external_id: str
    title: str
    start_at: datetime
    owner_email: str
    owner_status: str
    leaving_on: date | None
    outcome: str  #: ``fallback`` (the fallback owner will inherit) or ``blocked``
    successor_email: str | None
    needed: str | None

    def as_json(self) -> dict[str, object]:
        return {"tenant": self.tenant_slug, "sessionId": str(self.session_id), "externalId": self.external_id,
                "title": self.title, "startAt": self.start_at.isoformat(), "owner": self.owner_email,
                "ownerStatus": self.owner_status,
                "leavingOn": self.leaving_on.isoformat() if self.leaving_on else None,
                "outcome": self.outcome, "successor": self.successor_email, "needed": self.needed}


def _tenant_rows(db: Session, tenant: Tenant, now: datetime) -> list[SpofRow]:
    gone = {p.email: p for p in db.exec(select(Person).where(
        Person.tenant_id == tenant.id, col(Person.status).in_(sorted(GONE_STATES)))).all()}
    if not gone:
        return []
    ids = list(db.exec(select(LiveSession.id).where(LiveSession.tenant_id == tenant.id, *upcoming_filter(now))
                       .order_by(col(LiveSession.start_at), col(LiveSession.id))).all())
    fallback = fallback_facts(db, tenant)
    rules = successor_rules(tenant)
    rows = []
    for ctx in session_contexts(db, ids):
        owner = ctx.facts.owner_email or (ctx.facts.hosts[0].email if ctx.facts.hosts else None)
        person = gone.get((owner or "").lower())
        if person is None:
            continue
        decision = choose_successor(ctx.facts, person.email, fallback, rules)
        if decision.outcome in (Outcome.CO_HOST, Outcome.NOT_AFFECTED):
            continue
        rows.append(SpofRow(tenant.slug, ctx.session.id, ctx.session.external_id, ctx.session.title,
                            ctx.session.start_at, person.email, person.status, person.leaving_on,
                            decision.outcome.value, decision.successor_email, decision.needed))
    return rows


def report_tenants(*, db: Session, tenant_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """The tenants the report covers (delegation mode; only ``tenant_id`` when given), by slug."""
    query = select(Tenant.id).where(Tenant.integration_mode == IntegrationMode.DELEGATION.value)
    if tenant_id is not None:
        query = query.where(Tenant.id == tenant_id)
    return list(db.exec(query.order_by(col(Tenant.slug))).all())


def spof_report(*, db: Session, now: datetime, tenant_id: uuid.UUID | None = None) -> list[SpofRow]:
    """The report for one tenant, or for every delegation-mode tenant when ``tenant_id`` is None.

    Raises :class:`~engine.errors.TenantSettingInvalid` when a tenant's stored successor rules are refused
    by the schema (the report never guesses the defaults)."""
    query = select(Tenant).where(Tenant.integration_mode == IntegrationMode.DELEGATION.value)
    if tenant_id is not None:
        query = query.where(Tenant.id == tenant_id)
    rows: list[SpofRow] = []
    for tenant in db.exec(query.order_by(col(Tenant.slug))).all():
        rows.extend(_tenant_rows(db, tenant, now))
    return rows


__all__ = ["SpofRow", "report_tenants", "spof_report"]
