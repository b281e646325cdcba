"""Fixtures for organizer-lifecycle tests against the emulator: a delegation-mode tenant whose organizers
connected Google through OAuth, Muster's service account authorized (domain-wide) for the Directory and
Data Transfer as the customer's admin, the real reconciler and the lifecycle wiring.

Where it sits: ``tests/lifecycle``. The emulator (``emu``, seeded from ``../shared/data``) is the one of
``tests/sync``; sessions are written through the REST API and reconciled in this process, so a test can
assert on what Google holds after each step (events, outbox, request counters).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from engine.api.app import create_api
from engine.crypto import encrypt
from engine.delegation.hooks import DelegationHooks
from engine.ingest.tenants import create_tenant, issue_api_key
from engine.lifecycle.run import LifecycleWiring, SweepReport, build_wiring, sweep
from engine.runtime import ratelimit
from engine.runtime.wiring import build_port_factory, google_kit, lifecycle_kit
from engine.settings import Settings, load_settings
from engine.store.models import (
    AuditEvent,
    CalendarBinding,
    ConnectionKind,
    ConnectionStatus,
    GoogleConnection,
    LiveSession,
    Person,
    Tenant,
)
from engine.store.unit_of_work import unit_of_work
from engine.sync.reconciler import DEFAULT_RESOLVERS, Result, SessionReconciler
from tests.api.conftest import AsgiClient
from tests.conftest import _empty_tables, _engine_for
from tests.integration.sync.conftest import Emu, _env, emu  # noqa: F401  (session-scoped emulator fixture)

OAUTH_ID = "muster-lifecycle.apps.googleusercontent.com"
OAUTH_SECRET = "lifecycle-secret"
ADMIN = "it-admin@acme.example"
CAL = "https://www.googleapis.com/auth/calendar"
ADMIN_SCOPES = [CAL, "https://www.googleapis.com/auth/admin.directory.user.readonly",
                "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",
                "https://www.googleapis.com/auth/admin.datatransfer"]
FALLBACK = "ada.torvalds0@acme.example"
ROOM = "c_6da223e48ce37ea4fc91d017@resource.calendar.google.com"  # BER-HQ, 8 seats
LEARNERS = ["mary.thompson266@acme.example", "vint.keller209@acme.example", "hedy.gauss282@acme.example"]


@dataclass
class Life:
    settings: Settings
    engine: Engine
    emu: Emu
    tenant_id: uuid.UUID
    api: AsgiClient
    key: str
    reconciler: SessionReconciler
    wiring: LifecycleWiring

    # ------------------------------------------------------------------ platform side
    def request(self, method: str, path: str, body: Any = None) -> Any:
        return self.api.request(method, path, json=body, headers={"Authorization": f"Bearer {self.key}"})

    def put_session(self, external_id: str, *, hosts: list[str], video: str = "meet", room: bool = True,
                    recurrence: list[str] | None = None, start: str = "2027-02-01T10:00:00+01:00",
                    end: str = "2027-02-01T11:00:00+01:00", learners: list[str] | None = None) -> uuid.UUID:
        body: dict[str, Any] = {
            "title": f"Session {external_id}", "description": "Live session.", "timeZone": "Europe/Berlin",
            "start": start, "end": end, "organizer": hosts[0], "coHosts": hosts[1:], "video": video,
            "enrollments": [{"email": e, "status": "enrolled"} for e in (learners or LEARNERS)],
        }
        if room:
            body["room"] = {"email": ROOM}
        if recurrence:
            body["recurrence"] = recurrence
        resp = self.request("PUT", f"/v1/sessions/{external_id}", body)
        assert resp.status_code in (200, 201), resp.text
        return self.session_id(external_id)

    def session_id(self, external_id: str) -> uuid.UUID:
        with Session(self.engine) as db:
            return db.exec(select(LiveSession.id).where(LiveSession.external_id == external_id)).one()

    def connect(self, email: str) -> None:
        """``email`` consents through OAuth (a refresh token the emulator issued, stored encrypted)."""
        rt = self.emu.world.issue_refresh_token(email, OAUTH_ID, [CAL])
        with unit_of_work(self.engine) as uow:
            person = uow.db.exec(select(Person).where(Person.tenant_id == self.tenant_id,
                                                      Person.email == email)).first()
            if person is None:
                person = Person(tenant_id=self.tenant_id, email=email, roles=["organizer"])
                uow.db.add(person)
                uow.db.flush()
            uow.db.add(GoogleConnection(tenant_id=self.tenant_id, person_id=person.id, google_email=email,
                                        kind=ConnectionKind.OAUTH.value, scopes=[CAL],
                                        refresh_token_encrypted=encrypt(self.settings.secret_key, rt.token),
                                        status=ConnectionStatus.CONNECTED.value))

    def set_tenant(self, **fields: Any) -> None:
        with unit_of_work(self.engine) as uow:
            tenant = uow.db.get(Tenant, self.tenant_id)
            assert tenant is not None
            for k, v in fields.items():
                setattr(tenant, k, v)
            uow.db.add(tenant)

    # ------------------------------------------------------------------ sync side
    def settle(self, session_id: uuid.UUID, rounds: int = 20) -> Result:
        """Reconcile until nothing asks for a requeue (Meet pending, room answer)."""
        result = self.reconciler.reconcile(session_id)
        for _ in range(rounds):
            if result.requeue_after is None:
                return result
            time.sleep(min(result.requeue_after.total_seconds(), 0.05))
            result = self.reconciler.reconcile(session_id)
        return result

    def sweep(self, now: datetime | None = None) -> SweepReport:
        return sweep(self.engine, self.wiring, now=now or datetime.now(UTC), tenant_id=self.tenant_id)

    def binding(self, session_id: uuid.UUID) -> CalendarBinding:
        with Session(self.engine) as db:
            return db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session_id)).one()

    def audit(self, action: str) -> list[AuditEvent]:
        with Session(self.engine) as db:
            return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)).all())

    def event(self, calendar_id: str, event_id: str) -> dict[str, Any] | None:
        found = [e for e in self.emu.events(calendar_id, live_only=False) if e["id"] == event_id]
        return found[0] if found else None

    def learner_mail(self, since: int) -> dict[str, int]:
        """E-mails each learner received after outbox position ``since``."""
        counts: dict[str, int] = {}
        for m in self.emu.outbox()[since:]:
            if m["to"] in LEARNERS:
                counts[m["to"]] = counts.get(m["to"], 0) + 1
        return counts


@pytest.fixture
def life(emu: Emu, db_url: str, tmp_path: Path) -> Iterator[Life]:  # noqa: F811
    """The lifecycle stack on each database (SQLite, then PostgreSQL)."""
    emu.reseed()
    emu.world.options.extra["transfer_delay_s"] = 0.01
    emu.world.options.conference_delay_s = 0.0
    emu.world.options.room_response_delay_s = 0.0
    emu.control("POST", "oauth-clients", [{"client_id": OAUTH_ID, "client_secret": OAUTH_SECRET,
                                           "redirect_uris": ["http://127.0.0.1:9/callback"]}])
    client_id = emu.world.service_accounts[next(iter(emu.world.service_accounts))].client_id
    emu.control("POST", "delegation-grants", [{"clientId": client_id, "customerDomain": "acme.example",
                                               "scopes": ADMIN_SCOPES}])
    engine = _engine_for(db_url)
    _empty_tables(engine)
    settings = load_settings(_env(db_url, emu, tmp_path, MUSTER_GOOGLE_OAUTH_CLIENT_ID=OAUTH_ID,
                                  MUSTER_GOOGLE_OAUTH_CLIENT_SECRET=OAUTH_SECRET))
    with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
        tenant = create_tenant(db=uow.db, slug="acme", name="Acme", domain="acme.example", mode="delegation")
        tenant.delegation_method = "oauth"
        tenant.directory_admin_email = ADMIN
        tenant.fallback_owner_email = FALLBACK
        key = issue_api_key(db=uow.db, tenant_id=tenant.id)
        tenant_id = tenant.id
    hooks = DelegationHooks(settings, engine, kit=google_kit())
    calendars = build_port_factory(settings, limiter=ratelimit.build(None), oauth=hooks.oauth_source,
                                   timeout_s=10)
    reconciler = SessionReconciler(engine=engine, calendars=calendars,
                                   resolvers={**DEFAULT_RESOLVERS, "delegation": hooks.resolve},
                                   observers=[hooks.observe], after_record=[hooks.after_record],
                                   on_auth_error=hooks.on_auth_error)
    wiring = build_wiring(settings, engine, calendars=calendars, credentials=hooks.credentials,
                          reconcile=reconciler.reconcile, kit=lifecycle_kit(), poll_interval_s=0.02, poll_timeout_s=10)
    app = create_api(settings, engine=engine, dispatcher=lambda ids: None)
    yield Life(settings, engine, emu, tenant_id, AsgiClient(app), key, reconciler, wiring)
    _empty_tables(engine)
