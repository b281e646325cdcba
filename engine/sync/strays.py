"""The stray sweep: list Muster's own events on every calendar it writes to, by the ownership marker, and
adopt or remove the ones no binding names.

Where it sits: run after the drift sweep (the worker's sweep clock, ``muster sweep``). A *stray* is a live
event carrying Muster's marker (``privateExtendedProperty`` ``musterOwner=muster`` + ``musterTenant``) that
neither its session's binding nor its write-ahead intent names: an insert whose answer was lost while the
acting identity then changed, a copy left on a calendar Muster could not read at the time. For each one,
holding the session's lease and a fresh fencing token (so no reconcile of that session runs meanwhile) and
re-reading the binding:

* the binding names no event at all → the session is **adopted**: its intent is pointed at the stray and it
  is reconciled, which reads the event there and keeps it (it is where the event belongs) or replaces it
  silently by one where it belongs;
* the binding names another event (or the session is gone) → the stray is **removed**, silently
  (``sendUpdates=none``: its guests are on the session's real event, or the session no longer exists).

Calendars written to: each vendor-mode tenant's vendor owner accounts, every connected organizer's own
calendar (OAuth consent or domain-wide delegation) and every identity a binding or an intent records.
Google calls happen outside any database transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.errors import ConnectorError
from connectors.ports.calendar import Actor, CalendarPortFactory
from engine.domain.event_ids import owned_session, tenant_filter
from engine.runtime import metrics
from engine.runtime.locks import KeyLock, held
from engine.store.models import (
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    GoogleConnection,
    IntegrationMode,
    Tenant,
)
from engine.store.unit_of_work import unit_of_work
from engine.sync.fence import take_fence
from engine.sync.reconciler import binding_actor
from engine.sync.record import do_record_intent

log = logging.getLogger(__name__)


@dataclass
class StrayReport:
    calendars: int = 0
    listed: int = 0
    adopted: list[str] = field(default_factory=list)  #: session ids reconciled to adopt their event
    removed: list[str] = field(default_factory=list)  #: "calendar/event" removed
    errors: list[str] = field(default_factory=list)


def _calendars(engine: Engine, tenant_id: uuid.UUID | None) -> list[tuple[uuid.UUID, Actor]]:
    """(tenant, acting identity) of every calendar Muster writes to (an identity writes its own calendar)."""
    seen: dict[tuple[uuid.UUID, str], Actor] = {}
    with Session(engine) as db:
        tenants = db.exec(select(Tenant) if tenant_id is None else select(Tenant).where(Tenant.id == tenant_id)).all()
        ids = {t.id for t in tenants}
        for t in tenants:
            if t.integration_mode == IntegrationMode.VENDOR.value:
                for owner in t.vendor_owner_emails or []:
                    seen.setdefault((t.id, owner.lower()), Actor("vendor", owner.lower(), t.id))
        for row in db.exec(
            select(GoogleConnection).where(GoogleConnection.status == ConnectionStatus.CONNECTED.value)
        ).all():
            if row.tenant_id in ids and row.google_email:
                how = "oauth" if row.kind == ConnectionKind.OAUTH.value else "delegated"
                who = row.google_email.lower()
                seen.setdefault((row.tenant_id, who), binding_actor(row.tenant_id, how, who, row.id))
        for b in db.exec(select(CalendarBinding)).all():
            if b.tenant_id not in ids:
                continue
            places: list[tuple[str | None, str | None, uuid.UUID | None, str | None]] = [
                (b.actor_kind, b.owner_email, b.actor_connection_id, b.calendar_id),
                (b.intent_actor_kind, b.intent_owner_email, b.intent_connection_id, b.intent_calendar_id),
            ]
            for kind, email, conn, cal in places:
                if email and cal and cal.lower() == email.lower():
                    seen.setdefault((b.tenant_id, email.lower()), binding_actor(b.tenant_id, kind, email, conn))
    return [(key[0], actor) for key, actor in sorted(seen.items(), key=lambda kv: (kv[0][1], str(kv[0][0])))]


def _named(b: CalendarBinding | None, calendar_id: str, event_id: str) -> bool:
    if b is None:
        return False
    return (b.calendar_id, b.event_id) == (calendar_id, event_id) or (
        (b.intent_calendar_id, b.intent_event_id) == (calendar_id, event_id)
    )


def sweep_strays(
    engine: Engine,
    calendars: CalendarPortFactory,
    lock: KeyLock,
    *,
    lock_ttl_s: float,
    reconcile: Callable[[uuid.UUID], object],
    tenant_id: uuid.UUID | None = None,
) -> StrayReport:
    """Adopt or remove every stray Muster event on the calendars Muster writes to. Never raises for Google."""
    report = StrayReport()
    for tid, actor in _calendars(engine, tenant_id):
        report.calendars += 1
        try:
            events = calendars(actor).list_owned(actor.email, tenant_filter(tid))
        except ConnectorError as exc:
            report.errors.append(f"{actor.email}: {exc}")
            log.warning("stray sweep could not list %s: %s", actor.email, exc)
            continue
        report.listed += len(events)
        live = [e for e in events if not e.is_cancelled and owned_session(e.private) is not None]
        with Session(engine) as db:
            bindings = {
                b.session_id: b
                for b in db.exec(
                    select(CalendarBinding).where(
                        CalendarBinding.session_id.in_(  # type: ignore[attr-defined]
                            [owned_session(e.private)[1] for e in live]  # type: ignore[index]
                        )
                    )
                ).all()
            }
        for event in live:
            _tenant, sid = owned_session(event.private)  # type: ignore[misc]
            if _named(bindings.get(sid), event.calendar_id, event.event_id):
                continue
            _settle(engine, calendars, lock, lock_ttl_s, reconcile, actor, sid, event.calendar_id, event.event_id,
                    report)
    metrics.incr("strays.removed", len(report.removed))
    metrics.incr("strays.adopted", len(report.adopted))
    return report


def _settle(
    engine: Engine,
    calendars: CalendarPortFactory,
    lock: KeyLock,
    lock_ttl_s: float,
    reconcile: Callable[[uuid.UUID], object],
    actor: Actor,
    sid: uuid.UUID,
    calendar_id: str,
    event_id: str,
    report: StrayReport,
) -> None:
    adopt = False
    with held(lock, str(sid), lock_ttl_s) as lease:
        if lease is None:
            return  # a reconcile of this session is running: it sees the intent; the next sweep looks again
        fence = take_fence(engine, sid)  # any writer that started before this moment can no longer record
        with Session(engine) as db:
            b = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).first()
        if _named(b, calendar_id, event_id):
            return
        if fence is not None and b is not None and not b.event_id:
            # Point the intent at the stray, so the reconcile reads it: kept if it is where the session's
            # event belongs, else superseded (deleted silently) by the event created where it belongs.
            with unit_of_work(engine) as uow:
                do_record_intent(db=uow.db, tenant_id=b.tenant_id, session_id=sid, actor=actor,
                                 calendar_id=calendar_id, event_id=event_id, fence=fence)
            adopt = True
        else:
            try:
                calendars(actor).delete(calendar_id, event_id, send_updates="none")
            except ConnectorError as exc:
                report.errors.append(f"{calendar_id}/{event_id}: {exc}")
                return
            log.warning("removed stray event %s on %s of session %s (the binding names another event)",
                        event_id, calendar_id, sid)
            report.removed.append(f"{calendar_id}/{event_id}")
    if adopt:
        try:
            reconcile(sid)  # under its own lease: finds the event by its deterministic id and records it
        except ConnectorError as exc:
            report.errors.append(f"session {sid}: {exc}")
            return
        report.adopted.append(str(sid))


def sweep_runtime_strays(runtime: Any, enqueue: Callable[[uuid.UUID], object]) -> StrayReport:
    """The stray sweep of a process's runtime (worker clock, ``muster sweep``): adoptions are enqueued."""
    report = sweep_strays(
        runtime.engine,
        runtime.reconciler.calendars,
        runtime.lock,
        lock_ttl_s=float(runtime.settings.lock_ttl_s),
        reconcile=enqueue,
    )
    if report.removed or report.adopted or report.errors:
        log.info("stray sweep: %d calendar(s), %d removed, %d adopted, %d error(s)", report.calendars,
                 len(report.removed), len(report.adopted), len(report.errors))
    return report
