"""Fixtures for end-to-end sync tests: REST API → unit of work → dramatiq → reconciler → emulator.

Where it sits: ``tests/sync``. Two stacks run the same tests (``stack`` fixture):

* ``sqlite``: SQLite, the embedded worker (StubBroker + worker thread in this process);
* ``postgres``: PostgreSQL, Redis, and two real ``muster worker`` subprocesses on the Redis broker (this
  process only produces messages through the after-commit dispatcher).

The emulator (seeded from ``../shared/data/acme-workspace.json``) runs in-process over real HTTP; the
service-account key is fixed for the test run so the worker processes can keep the same key file while
the world is reset and re-seeded before every test. Tests assert on what the emulator holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from connectors.google_emulator.seed import load_seed
from connectors.google_emulator.server import EmulatorServer
from connectors.google_emulator.state import EmulatorOptions, World
from engine.api.app import create_api
from engine.ingest.tenants import create_tenant, issue_api_key
from engine.runtime import metrics
from engine.settings import Settings, load_settings
from engine.store.models import CalendarBinding, LiveSession
from engine.store.unit_of_work import set_dispatcher, unit_of_work
from tests.api.conftest import AsgiClient
from tests.conftest import REPO_ROOT, SHARED_DATA, _empty_tables, _engine_for, throwaway_postgres_database

SEED_FILE = SHARED_DATA / "acme-workspace.json"
CAL_SCOPE = "https://www.googleapis.com/auth/calendar"
#: Redis namespace of this test run (no other process's queues, locks or workers can interfere).
NS = f"muster-test-{os.getpid()}"
WORKER_ENV_KEYS = ("PATH", "HOME", "LANG", "PYTHONPATH", "NO_PROXY", "no_proxy")


def workspace() -> dict[str, Any]:
    return json.loads(SEED_FILE.read_text())


VENDOR = workspace()["vendor"]
OWNERS: list[str] = list(VENDOR["ownerAccounts"])
SA_EMAIL: str = VENDOR["serviceAccount"]["client_email"]


@dataclass
class Emu:
    """The running emulator plus helpers over its control API."""

    server: EmulatorServer
    private_pem: str
    key_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def world(self) -> World:
        return self.server.world

    def control(self, method: str, path: str, body: Any = None) -> Any:
        resp = httpx.request(method, self.url + "_emulator/" + path, json=body, timeout=10)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else None

    def reseed(self) -> None:
        """Reset the world to the seed file, keeping live access tokens of identities the seed recreates.

        The postgres stack's worker processes outlive a test and keep the access tokens they were issued
        (google-auth reuses a token until its expiry). Google does not revoke an access token because
        unrelated data changed, so a reseed must not either: otherwise the first call a worker thread makes
        in the next test answers 401 and is sent again after a refresh, and tests counting calls see it
        twice. Tokens a test revoked (``revoke_tokens_for``) or that expired stay gone.
        """
        now = self.world.now()
        issued = [t for t in self.world.access_tokens.values() if not t.revoked and t.expiry > now]
        self.world.reset()
        data = workspace()
        data["vendor"]["serviceAccount"] = {
            **data["vendor"]["serviceAccount"],
            "private_key": self.private_pem,
            "private_key_id": "testkey1",
        }
        load_seed(self.world, data)
        # The vendor's own Workspace admin authorizes Muster's service account for its owner accounts.
        self.control(
            "POST",
            "delegation-grants",
            [
                {
                    "clientId": VENDOR["serviceAccount"]["client_id"],
                    "customerDomain": VENDOR["domain"],
                    "scopes": [CAL_SCOPE],
                }
            ],
        )
        users, sas = self.world.users, self.world.service_accounts
        for tok in issued:
            same_subject = tok.email in sas or (tok.email in users and users[tok.email].id == tok.sub)
            if same_subject and (tok.sa_email is None or tok.sa_email in sas):
                self.world.access_tokens[tok.token] = tok

    def events(self, calendar_id: str, *, live_only: bool = True) -> list[dict[str, Any]]:
        data = self.control(
            "GET", f"calendars/{calendar_id}/events?includeDeleted={'false' if live_only else 'true'}"
        )
        return [v["event"] for v in data["events"]]

    def muster_events(self, *, live_only: bool = True) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for owner in OWNERS:
            out += [
                e
                for e in self.events(owner, live_only=live_only)
                if (e.get("extendedProperties") or {}).get("private", {}).get("musterOwner") == "muster"
            ]
        return out

    def events_of(self, session_id: uuid.UUID, *, live_only: bool = True) -> list[dict[str, Any]]:
        return [
            e
            for e in self.muster_events(live_only=live_only)
            if e["extendedProperties"]["private"].get("musterSession") == str(session_id)
        ]

    def outbox(self, **filters: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return list(self.control("GET", "outbox" + (f"?{query}" if query else ""))["messages"])

    def faults(self, rules: list[dict[str, Any]], seed: int = 7) -> None:
        self.control("PUT", "faults", {"seed": seed, "rules": rules})

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters"))

    def reset_counters(self) -> None:
        self.control("DELETE", "counters")


def _write_count(counters: dict[str, Any]) -> int:
    """Event writes (insert/patch/update/delete/move) the emulator answered, from its route counters."""
    total = 0
    for key, value in (counters.get("by_route") or {}).items():
        method = key.split(" ", 1)[0]
        if method in ("POST", "PATCH", "PUT", "DELETE") and "/events" in key and isinstance(value, int):
            total += value
    return total


@pytest.fixture(scope="session")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emu]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    world = World(options=EmulatorOptions(room_response_delay_s=0.0))
    with EmulatorServer(world=world) as server:
        key_file = tmp_path_factory.mktemp("sa") / "service-account.json"
        e = Emu(server, pem, key_file)
        e.reseed()
        key_file.write_text(json.dumps(e.control("GET", f"service-accounts/{SA_EMAIL}/key")))
        yield e


def _env(db_url: str, emu: Emu, var_dir: Path, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        "MUSTER_DATABASE_URL": db_url,
        "MUSTER_VAR_DIR": str(var_dir),
        "MUSTER_SECRET_KEY": "s" * 40,
        "MUSTER_GOOGLE_ROOT_URL": emu.url,
        "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE": str(emu.key_file),
        "MUSTER_BASE_URL": "https://muster.test",
        "MUSTER_DEBOUNCE_MS": "150",
        "MUSTER_RETRY_MIN_BACKOFF_MS": "50",
        "MUSTER_RETRY_MAX_BACKOFF_MS": "800",
        "MUSTER_WEBHOOK_RETRY_MIN_MS": "300",
        "MUSTER_WEBHOOK_RETRY_MAX_MS": "2000",
        "MUSTER_WEBHOOKS_ALLOW_LOOPBACK": "1",  # the webhook receiver of these tests listens on 127.0.0.1
        "MUSTER_LOCK_TTL_S": "5",
        "MUSTER_SWEEP_INTERVAL_S": "3600",
        "MUSTER_FEED_POLL_S": "3600",  # tests of the change feed set their own
        "MUSTER_REDIS_NAMESPACE": NS,
    }
    if redis_url:
        env["MUSTER_REDIS_URL"] = redis_url
    env.update(extra)
    return env


@dataclass
class Stack:
    """One running sync stack: the REST API, the workers, the emulator."""

    name: str
    settings: Settings
    engine: Engine
    emu: Emu
    api: AsgiClient
    key: str
    tenant_id: uuid.UUID
    wait_idle: Callable[[float], None]
    extra: dict[str, Any]

    def put_session(self, external_id: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.api.put(f"/v1/sessions/{external_id}", json=body, headers=self.auth)
        assert resp.status_code in (200, 201), resp.text
        return dict(resp.json())

    def request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.api.request(method, path, json=body, headers=self.auth)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def session_id(self, external_id: str) -> uuid.UUID:
        with Session(self.engine) as db:
            row = db.exec(select(LiveSession).where(LiveSession.external_id == external_id)).one()
            return row.id

    def binding(self, session_id: uuid.UUID) -> CalendarBinding | None:
        with Session(self.engine) as db:
            return db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session_id)).first()

    def idle(self, timeout_s: float = 60.0) -> None:
        self.wait_idle(timeout_s)


def _make_tenant(engine: Engine) -> tuple[uuid.UUID, str]:
    with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
        tenant = create_tenant(
            db=uow.db, slug="acme", name="Acme", domain="acme.example", mode="vendor", vendor_owners=OWNERS
        )
        key = issue_api_key(db=uow.db, tenant_id=tenant.id)
        return tenant.id, key


def _db_settled(engine: Engine) -> bool:
    """Every session's binding reflects its latest revision (or is in a terminal failure state)."""
    with Session(engine) as db:
        rows = db.exec(select(LiveSession.id, LiveSession.revision)).all()
        bindings = {b.session_id: b for b in db.exec(select(CalendarBinding)).all()}
    for sid, revision in rows:
        b = bindings.get(sid)
        if b is None:
            return False
        if b.sync_status in ("synced", "removed") and b.synced_revision != revision:
            return False
        if b.sync_status in ("pending",):
            return False
    return True


# ---------------------------------------------------------------------------------------------- sqlite
@pytest.fixture
def sqlite_stack(emu: Emu, tmp_path: Path) -> Iterator[Stack]:
    from engine.runtime.worker import start_embedded

    emu.reseed()
    db_url = f"sqlite:///{tmp_path / 'sync.db'}"
    engine = _engine_for(db_url)
    settings = load_settings(_env(db_url, emu, tmp_path))
    tenant_id, key = _make_tenant(engine)
    embedded = start_embedded(settings, engine=engine, threads=2, timeout_s=10)
    metrics.reset()
    app = create_api(settings, engine=engine)

    def wait(timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            embedded.join(max(1.0, deadline - time.monotonic()))
            if _db_settled(engine) or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    stack = Stack(
        "sqlite", settings, engine, emu, AsgiClient(app), key, tenant_id, wait, {"embedded": embedded}
    )
    try:
        yield stack
    finally:
        embedded.stop()
        emu.clear_faults()
        set_dispatcher(None)
        engine.dispose()


# ---------------------------------------------------------------------------------------------- postgres
@dataclass
class Workers:
    procs: list[subprocess.Popen[bytes]]
    env: dict[str, str]
    log_dir: Path

    def start_one(self, i: int) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"worker-{i}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                str(REPO_ROOT / ".venv" / "bin" / "muster"),
                "worker",
                "--threads",
                "3",
                "--heartbeat-timeout-ms",
                "3000",
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(REPO_ROOT),
        )
        return proc

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def _redis_clean(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for pattern in (f"{NS}:lock:*", f"{NS}:pending:*", f"{NS}:quota:*", f"{NS}:metrics"):
        for k in client.scan_iter(pattern):
            client.delete(k)


def _redis_idle(redis_url: str) -> bool:
    import redis

    client = redis.Redis.from_url(redis_url)
    for q in ("muster-sync", "muster-sync.DQ", "muster-sync-bg", "muster-sync-bg.DQ"):
        if client.hlen(f"{NS}:{q}.msgs") or client.llen(f"{NS}:{q}"):
            return False
    return not any(True for _ in client.scan_iter(f"{NS}:pending:*"))


@pytest.fixture(scope="session")
def sync_postgres_url() -> Iterator[str]:
    """The PostgreSQL database of the sync stack and its worker processes, and of nothing else.

    The workers live for the whole run, and their clocks (the outbox relay, the retry clock, the organizer
    lifecycle's pass) act on every row of their database: on the database the ``db_url`` tests share they
    would reconcile and transfer those tests' sessions behind their backs (as workers without the OAuth
    client those tests configure), so a later test on that database would find its transfer already done.
    """
    with throwaway_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def pg_workers(
    emu: Emu, sync_postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    import redis

    client = redis.Redis.from_url(redis_url)
    for k in client.scan_iter(f"{NS}:*"):
        client.delete(k)
    _engine_for(sync_postgres_url)  # schema
    var_dir = tmp_path_factory.mktemp("workers")
    env = {k: v for k, v in os.environ.items() if k in WORKER_ENV_KEYS}
    env.update(_env(sync_postgres_url, emu, var_dir, redis_url))
    env["PYTHONPATH"] = str(REPO_ROOT)
    workers = Workers([], env, var_dir)
    workers.procs = [workers.start_one(i) for i in range(2)]
    try:
        yield workers
    finally:
        workers.stop()


@pytest.fixture
def postgres_stack(
    emu: Emu, pg_workers: Workers, sync_postgres_url: str, redis_url: str, tmp_path: Path
) -> Iterator[Stack]:
    from engine.runtime.worker import producer

    emu.reseed()
    engine = _engine_for(sync_postgres_url)
    _empty_tables(engine)
    _redis_clean(redis_url)
    settings = load_settings(_env(sync_postgres_url, emu, tmp_path, redis_url))
    for i, p in enumerate(pg_workers.procs):
        if p.poll() is not None:  # a test killed it: start a fresh one
            pg_workers.procs[i] = pg_workers.start_one(i)
    tenant_id, key = _make_tenant(engine)
    tasks = producer(settings, engine=engine)
    metrics.reset()
    app = create_api(settings, engine=engine)

    def wait(timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        stable = 0
        while time.monotonic() < deadline:
            if _redis_idle(redis_url) and _db_settled(engine):
                stable += 1
                if stable >= 3:
                    return
            else:
                stable = 0
            time.sleep(0.1)

    stack = Stack(
        "postgres",
        settings,
        engine,
        emu,
        AsgiClient(app),
        key,
        tenant_id,
        wait,
        {"workers": pg_workers, "tasks": tasks, "redis_url": redis_url},
    )
    try:
        yield stack
    finally:
        emu.clear_faults()
        set_dispatcher(None)
        _empty_tables(engine)


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest) -> Stack:
    return request.getfixturevalue(f"{request.param}_stack")  # type: ignore[no-any-return]


def people(prefix: str, n: int, start: int = 0) -> list[str]:
    """``n`` learner emails of the seeded workspace (they exist in acme.example)."""
    users = [u["primaryEmail"] for u in workspace()["users"] if u.get("role") == "learner"]
    return users[start : start + n]


def organizers() -> list[str]:
    return [u["primaryEmail"] for u in workspace()["users"] if u.get("role") == "organizer"]


def session_body(
    *,
    hosts: list[str],
    enrolled: list[str],
    waitlisted: list[str] = (),  # type: ignore[assignment]
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Intro to SQL",
        "description": "Live session. Bring your questions.",
        "timeZone": "Europe/Berlin",
        "start": "2027-02-01T10:00:00+01:00",
        "end": "2027-02-01T11:00:00+01:00",
        "organizer": hosts[0],
        "coHosts": hosts[1:],
        "video": "manual",
        "manualJoinLink": "https://zoom.example/j/1",
        "enrollments": [{"email": e, "status": "enrolled"} for e in enrolled]
        + [{"email": e, "status": "waitlisted"} for e in waitlisted],
    }
    body.update(overrides)
    return body


__all__ = ["Emu", "Stack", "_write_count", "organizers", "people", "replace", "session_body", "sys"]
