"""Running the organizer lifecycle: the periodic sweep and the wiring of a transfer's services.

Where it sits: composition for :mod:`engine.lifecycle`, used by the worker (a periodic call of
:func:`sweep`), ``muster lifecycle sweep``, the demo and tests. :func:`sweep` is level-triggered like the
drift sweep: for each delegation-mode tenant it scans the Directory (when a Directory admin and the
service-account key are configured), then runs :func:`~engine.lifecycle.transfer.transfer_person` for
every person whose transfer is due and who still owns upcoming events. A transfer that could not finish
(no connected successor) is simply found again next time, and completes once someone connects.

The Google implementation (:class:`~connectors.ports.lifecycle.LifecycleKit`) is passed in by the composition
root (:func:`engine.runtime.wiring.lifecycle_wiring`), which also builds the wiring of a worker's runtime.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from connectors.errors import ConnectorError
from connectors.ports.calendar import Actor, CalendarPortFactory
from connectors.ports.lifecycle import LifecycleKit
from engine.lifecycle.departure import transfer_due
from engine.lifecycle.detect import ScanResult, scan_directory
from engine.lifecycle.dispatch import pending, set_transfer_dispatcher
from engine.lifecycle.facts import candidate_session_ids, session_contexts
from engine.lifecycle.transfer import ActorFor, TransferReport, TransferServices, transfer_person
from engine.runtime.locks import held
from engine.settings import Settings, read_service_account_key
from engine.store.models import IntegrationMode, Person, Tenant
from engine.store.unit_of_work import unit_of_work
from policies.successor import GONE_STATES, affected

log = logging.getLogger(__name__)

@dataclass
class LifecycleWiring:
    """Everything that does not change between tenants; :meth:`services_for` adds the tenant's parts."""

    settings: Settings
    calendars: CalendarPortFactory
    credentials: Any  #: the sync's credential source (service account + stored OAuth tokens)
    actor_for: ActorFor
    reconcile: Callable[[uuid.UUID], Any]
    kit: LifecycleKit  #: the Google implementation (:func:`engine.runtime.wiring.lifecycle_kit`)
    #: The process's lock (:mod:`engine.runtime.locks`): a person is transferred by one worker at a time.
    lock: Any = None
    poll_interval_s: float = 0.5
    poll_timeout_s: float = 120.0

    def _sa_info(self) -> dict[str, Any] | None:
        path = self.settings.google_service_account_file
        return dict(read_service_account_key(path)) if path is not None else None

    def services_for(self, tenant: Tenant) -> TransferServices:
        info = self._sa_info()
        admin = (tenant.directory_admin_email or "").lower()
        directory = transfers = None
        if info is not None and admin:
            root = self.settings.google_root_url
            directory = self.kit.directory_users(service_account_info=info, admin_email=admin, root_url=root)
            transfers = self.kit.data_transfers(service_account_info=info, admin_email=admin, root_url=root)
        sharing = self.kit.sharing_factory(self.credentials, root_url=self.settings.google_root_url)
        return TransferServices(
            calendars=self.calendars,
            sharing=sharing,
            actor_for=self.actor_for,
            reconcile=self.reconcile,
            directory=directory,
            transfers=transfers,
            poll_interval_s=self.poll_interval_s,
            poll_timeout_s=self.poll_timeout_s,
            lock=self.lock,
            lock_ttl_s=float(self.settings.lock_ttl_s),
        )


def build_wiring(
    settings: Settings,
    engine: Engine,
    *,
    calendars: CalendarPortFactory,
    credentials: Any,
    reconcile: Callable[[uuid.UUID], Any],
    kit: LifecycleKit,
    **kw: Any,
) -> LifecycleWiring:
    """Wiring for delegation mode: "can Muster act as this person" comes from the delegation resolver."""
    from engine.delegation.placement import DelegationResolver

    def actor_for(db: Session, tenant: Tenant, person: Person) -> tuple[Actor | None, str | None]:
        return DelegationResolver(db, settings=settings).actor_for(tenant, person)

    return LifecycleWiring(settings, calendars, credentials, actor_for, reconcile, kit, **kw)


@dataclass
class SweepReport:
    scans: dict[str, ScanResult] = field(default_factory=dict)
    transfers: list[TransferReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def people_due(engine: Engine, tenant_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
    """People whose transfer is due and who still own at least one upcoming session's event."""
    with Session(engine) as db:
        people = db.exec(
            select(Person).where(Person.tenant_id == tenant_id, col(Person.status).in_(sorted(GONE_STATES)))
        ).all()
        out = []
        for p in people:
            if not transfer_due(p, now.date()):
                continue
            ctxs = session_contexts(db, candidate_session_ids(db, tenant_id, [p.email], now))
            if any(affected(c.facts, p.email) for c in ctxs):
                out.append(p.id)
        return out


def sweep(
    engine: Engine, wiring: LifecycleWiring, *, now: datetime, tenant_id: uuid.UUID | None = None, scan: bool = True
) -> SweepReport:
    """Scan the Directory and run every due transfer, per delegation-mode tenant. Never raises for Google."""
    report = SweepReport()
    with Session(engine, expire_on_commit=False) as db:
        query = select(Tenant).where(Tenant.integration_mode == IntegrationMode.DELEGATION.value)
        if tenant_id is not None:
            query = query.where(Tenant.id == tenant_id)
        tenants = list(db.exec(query.order_by(col(Tenant.slug))).all())
    for tenant in tenants:
        services = wiring.services_for(tenant)
        if scan and services.directory is not None:
            try:
                with unit_of_work(engine) as uow:
                    report.scans[tenant.slug] = scan_directory(
                        db=uow.db, tenant_id=tenant.id, directory=services.directory
                    )
            except ConnectorError as exc:
                report.errors.append(f"{tenant.slug}: Directory scan failed: {exc}")
                log.warning("Directory scan of %s failed: %s", tenant.slug, exc)
        for person_id in people_due(engine, tenant.id, now):
            key = transfer_lock_key(tenant.id, person_id)
            with ExitStack() as stack:
                if wiring.lock is not None and stack.enter_context(held(wiring.lock, key, TRANSFER_LOCK_TTL_S)) is None:
                    continue  # a requested transfer of this person is running right now
                done = transfer_person(engine=engine, services=services, tenant_id=tenant.id, person_id=person_id,
                                       now=now)
                if done.config_error:
                    report.errors.append(f"{tenant.slug}: {done.config_error}")
                else:
                    report.transfers.append(done)
    pending.clear()  # every remembered request was covered by this pass
    return report


def periodic_pass(engine: Engine, wiring: LifecycleWiring) -> SweepReport:
    """The worker's periodic lifecycle pass (called by its sweeper, under the sweep lock)."""
    report = sweep(engine, wiring, now=datetime.now(UTC))
    done = sum(1 for t in report.transfers for s in t.sessions if s.outcome == "transferred")
    log.info("organizer lifecycle: %d transfer(s) checked, %d session(s) transferred", len(report.transfers), done)
    return report


#: Lifetime of one person's transfer lease without renewal; it is renewed every third of it while the
#: transfer runs (however long), so a killed worker blocks the person for two minutes at most.
TRANSFER_LOCK_TTL_S = 120.0


def transfer_lock_key(tenant_id: uuid.UUID | str, person_id: uuid.UUID | str) -> str:
    return f"transfer:{tenant_id}:{person_id}"


def run_requested(
    engine: Engine, wiring: LifecycleWiring, tenant_id: uuid.UUID, person_id: uuid.UUID
) -> TransferReport | None:
    """One requested transfer (the ``transfer_person`` actor's body): idempotent, under the person's lock.

    Returns None when another worker is transferring this person right now (the caller tries again a
    little later). Google's failures end as ``deferred`` sessions that the periodic pass retries."""
    key = transfer_lock_key(tenant_id, person_id)
    with ExitStack() as stack:
        if wiring.lock is not None and stack.enter_context(held(wiring.lock, key, TRANSFER_LOCK_TTL_S)) is None:
            return None
        with Session(engine) as db:
            tenant = db.get(Tenant, tenant_id)
        if tenant is None:
            return TransferReport(email="", due=False)
        return transfer_person(
            engine=engine,
            services=wiring.services_for(tenant),
            tenant_id=tenant_id,
            person_id=person_id,
            now=datetime.now(UTC),
        )


def install_dispatcher(engine: Engine, wiring: LifecycleWiring) -> None:
    """Run requested transfers in a background thread of this process (for a process without the task
    layer's ``transfer_person`` actor; the worker and the web app use
    :meth:`engine.runtime.actors.Tasks.enqueue_transfer`).
    The periodic pass remains the backstop if the process stops first."""

    def run_one(tenant_id: uuid.UUID, person_id: uuid.UUID) -> None:
        try:
            run_requested(engine, wiring, tenant_id, person_id)
        except Exception:  # the periodic pass retries
            log.exception("transfer of person %s failed; the periodic lifecycle pass will retry", person_id)

    def dispatch(tenant_id: uuid.UUID, person_id: uuid.UUID) -> None:
        threading.Thread(target=run_one, args=(tenant_id, person_id), name="muster-transfer", daemon=True).start()

    set_transfer_dispatcher(dispatch)
