"""Fixtures for organizer-delegation tests: the emulator seeded with the sample customer, settings that
point Muster at it, a tenant in delegation mode, and a reconciler wired with the delegation hooks.

Where it sits: ``tests/delegation``. Everything runs end to end over HTTP through the real Google
clients (``google-api-python-client``, ``google-auth``) against :class:`EmulatorServer`; the consent page
is driven with httpx. The sample customer comes from ``../shared/data/acme-workspace.json`` (loaded from
disk, never copied).
"""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.google_emulator.seed import load_seed
from connectors.google_emulator.server import EmulatorServer
from connectors.google_emulator.state import EmulatorOptions, World
from engine.delegation.hooks import DelegationHooks
from engine.runtime.ratelimit import MemoryRateLimiter
from engine.runtime.wiring import build_port_factory, google_kit
from engine.settings import Settings, load_settings
from engine.store.models import (
    CalendarBinding,
    DelegationMethod,
    Enrollment,
    HostRole,
    IntegrationMode,
    LiveSession,
    Person,
    SessionHost,
    Tenant,
)
from engine.sync.reconciler import DEFAULT_RESOLVERS, Result, SessionReconciler
from tests.conftest import SHARED_DATA

WORKSPACE = SHARED_DATA / "acme-workspace.json"
DOMAIN = "acme.example"
SA_EMAIL = "muster-sync@muster-vendor.iam.gserviceaccount.com"
OAUTH_CLIENT_ID = "muster-web.apps.googleusercontent.com"
OAUTH_SECRET = "emulated-oauth-secret"
BASE_URL = "http://muster.test"
ADMIN = "it-admin@acme.example"


def workspace() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(WORKSPACE.read_text())
    return data


def organizers() -> list[str]:
    return [
        u["primaryEmail"]
        for u in workspace()["users"]
        if u.get("role") == "organizer" and not u.get("suspended")
    ]


def learners(n: int) -> list[str]:
    out = [
        u["primaryEmail"]
        for u in workspace()["users"]
        if u.get("role") == "learner" and not u.get("suspended")
    ]
    return out[:n]


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    world = World(options=EmulatorOptions(conference_delay_s=0.0, room_response_delay_s=0.05))
    with EmulatorServer(world=world) as srv:
        yield srv


_client: list[httpx.Client] = []


def _http() -> httpx.Client:
    """One keep-alive client for the control API (a new client per call costs a TLS context each)."""
    if not _client:
        _client.append(httpx.Client(timeout=10))
    return _client[0]


@dataclass
class Google:
    """The emulated Google of one test and its control API."""

    server: EmulatorServer
    key_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def world(self) -> World:
        return self.server.world

    def control(self, method: str, path: str, **kw: Any) -> Any:
        resp = _http().request(method, self.url + "_emulator/" + path.lstrip("/"), **kw)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def options(self, **opts: float) -> None:
        self.control("PUT", "options", json=opts)

    def events(self, calendar_id: str, *, live: bool = True) -> list[dict[str, Any]]:
        data = self.control(
            "GET", f"calendars/{calendar_id}/events", params={"includeDeleted": "false" if live else "true"}
        )
        return [v["event"] for v in data["events"]]

    def outbox(self, **params: str) -> list[dict[str, Any]]:
        return list(self.control("GET", "outbox", params=params)["messages"])


@pytest.fixture
def google(emulator: EmulatorServer, tmp_path: Path) -> Google:
    world = emulator.world
    world.reset()
    world.options = EmulatorOptions(conference_delay_s=0.0, room_response_delay_s=0.05)
    load_seed(world, WORKSPACE)
    world.add_oauth_client(OAUTH_CLIENT_ID, OAUTH_SECRET, [BASE_URL + "/oauth/google/callback"])
    # Vendor mode: Muster's own Workspace lets its service account act as the vendor owner accounts.
    vendor = workspace()["vendor"]
    world.add_delegation_grant(
        vendor["serviceAccount"]["client_id"], vendor["domain"], ["https://www.googleapis.com/auth/calendar"]
    )
    g = Google(emulator, tmp_path / "sa-key.json")
    key = g.control("GET", f"service-accounts/{SA_EMAIL}/key")
    g.key_file.write_text(json.dumps(key))
    return g


def make_settings(
    google: Google, engine: Engine, *, with_key: bool = True, with_oauth: bool = True
) -> Settings:
    env = {
        "MUSTER_DATABASE_URL": str(engine.url),
        "MUSTER_SECRET_KEY": "s" * 40,
        "MUSTER_GOOGLE_ROOT_URL": google.url,
        "MUSTER_BASE_URL": BASE_URL,
    }
    if with_key:
        env["MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE"] = str(google.key_file)
    if with_oauth:
        env["MUSTER_GOOGLE_OAUTH_CLIENT_ID"] = OAUTH_CLIENT_ID
        env["MUSTER_GOOGLE_OAUTH_CLIENT_SECRET"] = OAUTH_SECRET
    return load_settings(env)


@pytest.fixture
def settings(google: Google, sqlite_engine: Engine) -> Settings:
    return make_settings(google, sqlite_engine)


class Platform:
    """Writes the platform's rows (what the REST API would) and runs the reconciler like the worker."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        mode: str = IntegrationMode.DELEGATION.value,
        method: str = DelegationMethod.OAUTH.value,
    ) -> None:
        self.engine = engine
        self.settings = settings
        with Session(engine, expire_on_commit=False) as db:
            tenant = Tenant(
                slug=f"acme-{uuid.uuid4().hex[:6]}",
                name="Acme",
                google_domain=DOMAIN,
                integration_mode=mode,
                delegation_method=method,
                directory_admin_email=ADMIN,
                vendor_owner_emails=[
                    "calendar-owner-1@muster-vendor.example",
                    "calendar-owner-2@muster-vendor.example",
                ],
            )
            db.add(tenant)
            db.commit()
            self.tenant_id = tenant.id
        self.hooks = DelegationHooks(settings, engine, kit=google_kit())
        self.reconciler = self.build_reconciler()

    def build_reconciler(self, settings: Settings | None = None) -> SessionReconciler:
        """The reconciler a worker builds; with ``settings``, one configured differently (e.g. other keys)."""
        hooks = self.hooks if settings is None else DelegationHooks(settings, self.engine, kit=google_kit())
        ports = build_port_factory(settings or self.settings, limiter=MemoryRateLimiter(), oauth=hooks.oauth_source)
        return SessionReconciler(
            engine=self.engine,
            calendars=ports,
            resolvers={**DEFAULT_RESOLVERS, "delegation": hooks.resolve},
            observers=[hooks.observe],
            after_record=[hooks.after_record],
            on_auth_error=hooks.on_auth_error,
        )

    def person(self, db: Session, email: str) -> Person:
        row = db.exec(select(Person).where(Person.tenant_id == self.tenant_id, Person.email == email)).first()
        if row is None:
            row = Person(tenant_id=self.tenant_id, email=email, roles=["organizer"])
            db.add(row)
            db.flush()
        return row

    def session(
        self,
        *,
        organizer: str,
        co_hosts: tuple[str, ...] = (),
        learners: tuple[str, ...] = (),
        video: str = "meet",
        start: datetime | None = None,
        minutes: int = 60,
        room: bool = False,
        min_capacity: int | None = None,
        building: str | None = None,
        features: tuple[str, ...] = (),
        recurrence: str | None = None,
        title: str = "Live session",
    ) -> uuid.UUID:
        start = start or datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
        with Session(self.engine, expire_on_commit=False) as db:
            s = LiveSession(
                tenant_id=self.tenant_id,
                external_id=f"s-{uuid.uuid4().hex[:8]}",
                title=title,
                start_at=start,
                end_at=start + timedelta(minutes=minutes),
                time_zone="Europe/Berlin",
                video=video,
                room_wanted=room,
                room_min_capacity=min_capacity,
                room_building=building,
                room_features=list(features),
                recurrence=recurrence,
            )
            db.add(s)
            db.flush()
            for i, email in enumerate((organizer, *co_hosts)):
                p = self.person(db, email)
                db.add(
                    SessionHost(
                        session_id=s.id,
                        person_id=p.id,
                        position=i,
                        role=HostRole.ORGANIZER.value if i == 0 else HostRole.CO_HOST.value,
                    )
                )
            for email in learners:
                p = self.person(db, email)
                db.add(Enrollment(session_id=s.id, person_id=p.id))
            db.commit()
            return s.id

    def binding(self, session_id: uuid.UUID) -> CalendarBinding:
        with Session(self.engine, expire_on_commit=False) as db:
            row = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session_id)).first()
            assert row is not None, "no binding yet"
            return row

    def sync(self, session_id: uuid.UUID, *, rounds: int = 20, pause: float = 0.05) -> list[Result]:
        """Reconcile like the worker: again while ``requeue_after`` asks (short real pauses, bounded)."""
        results = []
        for _ in range(rounds):
            result = self.reconciler.reconcile(session_id)
            results.append(result)
            if result.requeue_after is None:
                return results
            time.sleep(min(result.requeue_after.total_seconds(), pause))
        return results


@pytest.fixture
def platform(settings: Settings, sqlite_engine: Engine, google: Google) -> Platform:
    return Platform(sqlite_engine, settings)


def connect_via_consent_page(
    google: Google,
    settings: Settings,
    engine: Engine,
    tenant_id: uuid.UUID,
    email: str,
    enqueued: list[uuid.UUID] | None = None,
) -> Any:
    """Drive "Connect Google" end to end: start URL → emulator consent page (GET, POST Allow) → callback."""
    from engine.delegation.oauth import complete, start_url
    from engine.store.unit_of_work import unit_of_work

    with Session(engine) as db:
        tenant = db.get(Tenant, tenant_id)
        person = db.exec(select(Person).where(Person.tenant_id == tenant_id, Person.email == email)).one()
        assert tenant is not None
        url = start_url(kit=google_kit(), settings=settings, tenant=tenant, person=person)
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        page = http.get(url)
        assert page.status_code == 200 and "Choose an account" in page.text
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        form = {k: html.unescape(v) for k, v in form.items()}
        assert email in page.text  # login_hint pre-selects the organizer's account
        form.update({"user": email, "decision": "allow"})
        answer = http.post(google.url + "o/oauth2/v2/auth", data=form)
    assert answer.status_code == 303, answer.text
    callback = httpx.URL(answer.headers["location"])
    assert str(callback).startswith(BASE_URL + "/oauth/google/callback")
    with unit_of_work(engine, dispatcher=(enqueued.extend if enqueued is not None else None)) as uow:
        return complete(
            kit=google_kit(),
            uow=uow,
            settings=settings,
            state=callback.params["state"],
            code=callback.params.get("code"),
            error=callback.params.get("error"),
        )
