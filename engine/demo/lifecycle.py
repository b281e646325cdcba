"""Demo step for the organizer lifecycle: ``muster demo --suspend EMAIL``.

Where it sits: one step of ``muster demo`` (:data:`engine.demo.main.STEPS`), after the delegation-mode tenant
(``acme-delegated``) received its sessions. Without ``--suspend`` it only adds a hint to the summary.
With it, the step

1. makes sure that organizer's sessions are synced onto their own calendar (reconciling them here when
   the demo runs without its web worker);
2. lets Muster's service account use the Data Transfer API as the customer's admin would (adds the
   ``admin.datatransfer`` scope to the domain-wide delegation grant) and sets the tenant's fallback owner
   from the catalog (``fallbackCalendarOwner``) when none is set;
3. suspends the organizer in the emulator through its control API (as a Workspace admin would);
4. runs the lifecycle sweep once: the Directory scan notices the suspension and the transfer moves each
   session to its co-host or the fallback owner (Data Transfer, then adoption), and the summary lists
   where each one went. The emulator's calendar pages show the events on their new owners' calendars.

Try ``muster demo --suspend ken.allen5@acme.example`` (one of his sessions has a co-host, the others go
to the fallback owner). See ``docs/organizer-lifecycle.md``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from engine.admin.tenant_setup import configure
from engine.demo.delegation import DELEGATED_SLUG, _control
from engine.store.models import CalendarBinding, LiveSession, Person, SessionHost, Tenant
from engine.store.unit_of_work import unit_of_work

if TYPE_CHECKING:
    from engine.demo.context import DemoContext

DATATRANSFER_SCOPE = "https://www.googleapis.com/auth/admin.datatransfer"
#: How long to wait for the web worker to sync the organizer's sessions before suspending them.
SYNC_WAIT_S = 30.0


def _their_sessions(ctx: DemoContext, tenant_id: Any, email: str) -> list[Any]:
    with Session(ctx.db_engine) as db:
        return list(db.exec(select(LiveSession.id)
                            .join(SessionHost, col(SessionHost.session_id) == col(LiveSession.id))
                            .join(Person, col(Person.id) == col(SessionHost.person_id))
                            .where(LiveSession.tenant_id == tenant_id, Person.email == email,
                                   SessionHost.position == 0)).all())


def _synced(ctx: DemoContext, ids: list[Any]) -> bool:
    with Session(ctx.db_engine) as db:
        rows = db.exec(select(CalendarBinding).where(col(CalendarBinding.session_id).in_(ids))).all()
    return len(rows) == len(ids) and all(b.sync_status != "pending" for b in rows)


def suspend_and_transfer(ctx: DemoContext) -> None:
    """Suspend ``ctx.suspend_email`` in the emulator and transfer their sessions (see module docstring)."""
    email = (getattr(ctx, "suspend_email", None) or "").strip().lower()
    if not email:
        ctx.notes.append("Organizer lifecycle: `muster demo --suspend ken.allen5@acme.example` suspends an "
                         "organizer and shows their sessions moving to a co-host or the fallback owner.")
        return
    from engine.demo.context import DemoError
    from engine.lifecycle.run import sweep
    from engine.runtime.wiring import lifecycle_wiring

    if ctx.settings is None or ctx.emulator is None or ctx.settings.google_service_account_file is None:
        raise DemoError("--suspend needs the demo's emulator and service-account key")
    with unit_of_work(ctx.db_engine) as uow:
        tenant = uow.db.exec(select(Tenant).where(Tenant.slug == DELEGATED_SLUG)).first()
        if tenant is None:
            raise DemoError(f"--suspend: the delegation-mode tenant {DELEGATED_SLUG!r} was not created")
        if not tenant.fallback_owner_email:
            configure(uow, tenant, {"fallback_owner_email": (ctx.catalog.get("tenant") or {}).get(
                "fallbackCalendarOwner")}, actor="demo")
        tenant_id, fallback = tenant.id, tenant.fallback_owner_email
    ids = _their_sessions(ctx, tenant_id, email)
    if not ids:
        raise DemoError(f"--suspend {email}: this person organizes none of {DELEGATED_SLUG}'s sessions "
                        "(try ken.allen5@acme.example)")
    wiring = lifecycle_wiring(ctx.settings, ctx.db_engine)
    deadline = time.monotonic() + SYNC_WAIT_S
    while ctx.web is not None and not _synced(ctx, ids) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not _synced(ctx, ids):
        for sid in ids:
            wiring.reconcile(sid)
    grant = ctx.workspace.get("domainWideDelegation") or {}
    if grant.get("clientId") and grant.get("customerDomain"):
        scopes = sorted({*grant.get("scopes", []), DATATRANSFER_SCOPE})
        _control(ctx, "POST", "delegation-grants", json={"clientId": grant["clientId"],
                                                         "customerDomain": grant["customerDomain"],
                                                         "scopes": scopes})
    _control(ctx, "POST", f"users/{email}/suspend", json={"reason": "ADMIN"})
    report = sweep(ctx.db_engine, wiring, now=datetime.now(UTC), tenant_id=tenant_id)
    lines = [f"Organizer lifecycle: suspended {email} in the emulator; "
             f"fallback owner {fallback or '(none)'}."]
    for t in report.transfers:
        for s in t.sessions:
            where = f"{s.path} -> {s.successor}" if s.outcome == "transferred" else f"blocked: {s.note}"
            lines.append(f"  {s.title} (was {t.email}): {where}")
    lines += [f"  error: {e}" for e in report.errors]
    ctx.notes.extend(lines)
