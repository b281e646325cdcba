"""Benchmark: Google API calls per session when an organizer with many sessions leaves.

Where it sits: ``make bench`` (called from ``bench/sync.py`` when present, or run alone) and
``tests/integration/lifecycle/test_transfer_bench.py``. Starts an in-process emulator seeded with the sample
Workspace, a SQLite database and the real reconciler (delegation mode, organizers connected through
OAuth), syncs ``N`` sessions of one organizer (each with a co-host, Meet and learners), then transfers
them all and counts every request the emulator answered during the transfer (token endpoint, Calendar,
ACL, Directory and Data Transfer) through its request counters. Two paths are measured: a planned
departure (``events.move``) and a sudden suspension (Data Transfer, then adoption).

Prints ``transfer_calls_per_session: X`` (the move path), ``transfer_dt_calls_per_session: X`` and the
totals. The calls per session stay bounded: one move (or one adoption ``get``) and the reconcile's
``get`` per session, plus a constant (sharing, tokens, the Data Transfer and its polls).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlmodel import SQLModel, select  # noqa: E402

from connectors.google_emulator.seed import service_account_key  # noqa: E402
from connectors.google_emulator.server import EmulatorServer  # noqa: E402
from connectors.google_emulator.state import EmulatorOptions, World  # noqa: E402
from engine.api.schemas import SessionCreate  # noqa: E402
from engine.crypto import encrypt  # noqa: E402
from engine.delegation.hooks import DelegationHooks  # noqa: E402
from engine.ingest.sessions import upsert_session  # noqa: E402
from engine.ingest.tenants import create_tenant  # noqa: E402
from engine.lifecycle.departure import announce_departure  # noqa: E402
from engine.lifecycle.run import build_wiring, sweep  # noqa: E402
from engine.runtime import ratelimit  # noqa: E402
from engine.runtime.wiring import build_port_factory, google_kit, lifecycle_kit  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.store.models import ConnectionKind, ConnectionStatus, GoogleConnection, Person  # noqa: E402
from engine.store.unit_of_work import make_engine, unit_of_work  # noqa: E402
from engine.sync.reconciler import DEFAULT_RESOLVERS, SessionReconciler  # noqa: E402

SEED = ROOT.parent / "shared" / "data" / "acme-workspace.json"
SA = "muster-sync@muster-vendor.iam.gserviceaccount.com"
OAUTH_ID, OAUTH_SECRET = "muster-bench.apps.googleusercontent.com", "bench-secret"
CAL = "https://www.googleapis.com/auth/calendar"
ADMIN_SCOPES = [CAL, "https://www.googleapis.com/auth/admin.directory.user.readonly",
                "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",
                "https://www.googleapis.com/auth/admin.datatransfer"]
ORGANIZER, CO_HOST = "radia.backus10@acme.example", "grace.lamport2@acme.example"
LEARNERS = ["mary.thompson266@acme.example", "vint.keller209@acme.example"]


@dataclass(frozen=True)
class TransferFigures:
    sessions: int
    calls: int
    seconds: float
    by_route: dict[str, int]

    @property
    def per_session(self) -> float:
        return self.calls / max(1, self.sessions)


def _control(url: str, method: str, path: str, body: Any = None) -> Any:
    resp = httpx.request(method, url + "_emulator/" + path, json=body, timeout=30)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def measure(n_sessions: int = 200, *, suspend: bool = False) -> TransferFigures:
    """Sync ``n_sessions`` of one organizer, then transfer them; count the transfer's requests."""
    world = World(options=EmulatorOptions(conference_delay_s=0.0, room_response_delay_s=0.0))
    world.options.extra["transfer_delay_s"] = 0.01
    with EmulatorServer(world=world, seed=SEED) as server, tempfile.TemporaryDirectory() as tmp:
        url = server.url
        _control(url, "PUT", "quotas", {"per_user_per_minute": None, "per_project_per_minute": None,
                                        "events_created_per_user": None})
        _control(url, "POST", "oauth-clients", [{"client_id": OAUTH_ID, "client_secret": OAUTH_SECRET,
                                                 "redirect_uris": ["http://127.0.0.1:9/cb"]}])
        key = service_account_key(world, SA, url)
        assert key is not None
        grant = {"clientId": key["client_id"], "customerDomain": "acme.example", "scopes": ADMIN_SCOPES}
        _control(url, "POST", "delegation-grants", [grant])
        key_file = Path(tmp) / "sa.json"
        key_file.write_text(json.dumps(key))
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(db_url)
        SQLModel.metadata.create_all(engine)
        settings = load_settings({
            "MUSTER_DATABASE_URL": db_url, "MUSTER_VAR_DIR": tmp, "MUSTER_SECRET_KEY": "b" * 40,
            "MUSTER_GOOGLE_ROOT_URL": url, "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file),
            "MUSTER_BASE_URL": "https://muster.bench", "MUSTER_GOOGLE_OAUTH_CLIENT_ID": OAUTH_ID,
            "MUSTER_GOOGLE_OAUTH_CLIENT_SECRET": OAUTH_SECRET})
        with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
            tenant = create_tenant(db=uow.db, slug="acme", name="Acme", domain="acme.example",
                                   mode="delegation")
            tenant.delegation_method = "oauth"
            tenant.directory_admin_email = "it-admin@acme.example"
            tenant_id = tenant.id
            start = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
            ids: list[uuid.UUID] = []
            for i in range(n_sessions):
                body = SessionCreate.model_validate({
                    "title": f"Bench session {i}", "timeZone": "Europe/Berlin",
                    "start": (start + timedelta(hours=2 * i)).isoformat(),
                    "end": (start + timedelta(hours=2 * i + 1)).isoformat(),
                    "organizer": ORGANIZER, "coHosts": [CO_HOST], "video": "meet",
                    "enrollments": [{"email": e} for e in LEARNERS]})
                ids.append(upsert_session(db=uow.db, tenant_id=tenant_id, external_id=f"b-{i}",
                                                 data=body, actor="bench").session.id)
            uow.db.flush()
            for email in (ORGANIZER, CO_HOST):
                rt = world.issue_refresh_token(email, OAUTH_ID, [CAL])
                person = uow.db.exec(select(Person).where(Person.email == email)).one()
                uow.db.add(GoogleConnection(tenant_id=tenant_id, person_id=person.id, google_email=email,
                                            kind=ConnectionKind.OAUTH.value, scopes=[CAL],
                                            refresh_token_encrypted=encrypt(settings.secret_key, rt.token),
                                            status=ConnectionStatus.CONNECTED.value))
        hooks = DelegationHooks(settings, engine, kit=google_kit())
        calendars = build_port_factory(settings, limiter=ratelimit.build(None), oauth=hooks.oauth_source)
        reconciler = SessionReconciler(engine=engine, calendars=calendars,
                                       resolvers={**DEFAULT_RESOLVERS, "delegation": hooks.resolve},
                                       observers=[hooks.observe], after_record=[hooks.after_record],
                                       on_auth_error=hooks.on_auth_error)
        for sid in ids:
            reconciler.reconcile(sid)
        wiring = build_wiring(settings, engine, calendars=calendars, credentials=hooks.credentials,
                              reconcile=reconciler.reconcile, kit=lifecycle_kit(),
                              poll_interval_s=0.02, poll_timeout_s=30)
        if suspend:
            _control(url, "POST", f"users/{ORGANIZER}/suspend", {})
        else:
            with unit_of_work(engine) as uow:
                announce_departure(db=uow.db, tenant_id=tenant_id, email=ORGANIZER, leaving_on=None,
                                   actor="bench", today=datetime.now(UTC).date())
        _control(url, "DELETE", "counters")
        began = time.perf_counter()
        report = sweep(engine, wiring, now=datetime.now(UTC), tenant_id=tenant_id, scan=suspend)
        seconds = time.perf_counter() - began
        counters = _control(url, "GET", "counters")
        moved = sum(1 for t in report.transfers for s in t.sessions if s.outcome == "transferred")
        engine.dispose()
        if moved != n_sessions:
            raise RuntimeError(f"only {moved} of {n_sessions} sessions were transferred")
        return TransferFigures(n_sessions, int(counters["total"]), seconds,
                               {k: int(v) for k, v in counters["by_route"].items()})


def figures(n_sessions: int = 200) -> dict[str, float]:
    """The figures ``bench/sync.py`` prints (``name: value``)."""
    move = measure(n_sessions)
    dt = measure(n_sessions, suspend=True)
    return {"transfer_calls_per_session": round(move.per_session, 2),
            "transfer_dt_calls_per_session": round(dt.per_session, 2),
            "transfer_sessions": float(n_sessions),
            "transfer_seconds": round(move.seconds, 2)}


def main() -> int:
    for name, value in figures().items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
