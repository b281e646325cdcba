"""Benchmark: Google API calls needed to get a working Meet link per session (``meet_calls_per_session``).

Where it sits: ``make bench`` / ``python bench/meet.py``; :func:`meet_calls_per_session` is importable by
``bench/sync.py``. Starts an in-process emulator seeded with the sample Workspace, with Meet links that
stay ``pending`` for ``DELAY_S`` seconds, creates ``N`` delegation-mode (domain-wide) sessions that want
Meet, and reconciles each like the worker does: again after ``requeue_after`` (slept here, capped) until
the reconcile asks for nothing more. Calls are counted by the emulator per acting identity.

Figure: every call the organizer's identity makes for the session until its link works: the insert that
carries the ``createRequest`` (a session never written before is inserted without a read) plus one
``events.get`` per poll while ``pending``. The bound from the issue is ``1 + polls``; the run fails loudly
if it is exceeded.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, SQLModel, select  # noqa: E402

from connectors.google_emulator.server import EmulatorServer  # noqa: E402
from connectors.google_emulator.state import EmulatorOptions, World  # noqa: E402
from engine.delegation.hooks import DelegationHooks  # noqa: E402
from engine.runtime.ratelimit import MemoryRateLimiter  # noqa: E402
from engine.runtime.wiring import build_port_factory, google_kit  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.store.models import (  # noqa: E402
    CalendarBinding,
    DelegationMethod,
    HostRole,
    LiveSession,
    Person,
    SessionHost,
    Tenant,
)
from engine.store.unit_of_work import make_engine  # noqa: E402
from engine.sync.reconciler import DEFAULT_RESOLVERS, SessionReconciler  # noqa: E402

SEED = ROOT.parent / "shared" / "data" / "acme-workspace.json"
SA = "muster-sync@muster-vendor.iam.gserviceaccount.com"
N = 10
DELAY_S = 0.4
MAX_SLEEP_S = 0.25


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def meet_calls_per_session(n: int = N, delay_s: float = DELAY_S) -> dict[str, float]:
    """Run the scenario; return ``meet_calls_per_session`` (mean), its max, and the mean poll count."""
    workspace = json.loads(SEED.read_text())
    organizers = [
        u["primaryEmail"]
        for u in workspace["users"]
        if u.get("role") == "organizer" and not u.get("suspended")
    ]
    world = World(options=EmulatorOptions(conference_delay_s=delay_s, room_response_delay_s=0.05))
    with EmulatorServer(world=world, seed=SEED) as emu, tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key.json"
        key_file.write_text(json.dumps(_get(f"{emu.url}_emulator/service-accounts/{SA}/key")))
        settings = load_settings(
            {
                "MUSTER_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
                "MUSTER_SECRET_KEY": "b" * 40,
                "MUSTER_GOOGLE_ROOT_URL": emu.url,
                "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file),
                "MUSTER_VAR_DIR": tmp,
            }
        )
        engine = make_engine(settings.database_url)
        SQLModel.metadata.create_all(engine)
        with Session(engine, expire_on_commit=False) as db:
            tenant = Tenant(
                slug="bench",
                name="Bench",
                google_domain=workspace["customerDomain"],
                integration_mode="delegation",
                delegation_method=DelegationMethod.DOMAIN_WIDE.value,
            )
            db.add(tenant)
            db.flush()
            sids: list[tuple[uuid.UUID, str]] = []
            start = datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
            for i in range(n):
                email = organizers[i % len(organizers)]
                person = db.exec(
                    select(Person).where(Person.tenant_id == tenant.id, Person.email == email)
                ).first()
                if person is None:
                    person = Person(tenant_id=tenant.id, email=email, roles=["organizer"])
                    db.add(person)
                    db.flush()
                pid = person.id
                s = LiveSession(
                    tenant_id=tenant.id,
                    external_id=f"b{i}",
                    title=f"Bench {i}",
                    video="meet",
                    start_at=start + timedelta(hours=i),
                    end_at=start + timedelta(hours=i, minutes=45),
                    time_zone="Europe/Berlin",
                )
                db.add(s)
                db.flush()
                db.add(SessionHost(session_id=s.id, person_id=pid, role=HostRole.ORGANIZER.value, position=0))
                sids.append((s.id, email))
            db.commit()
        hooks = DelegationHooks(settings, engine, kit=google_kit())
        reconciler = SessionReconciler(
            engine=engine,
            calendars=build_port_factory(settings, limiter=MemoryRateLimiter(), oauth=hooks.oauth_source),
            resolvers={**DEFAULT_RESOLVERS, "delegation": hooks.resolve},
            observers=[hooks.observe],
            after_record=[hooks.after_record],
            on_auth_error=hooks.on_auth_error,
        )
        per_session: list[int] = []
        polls: list[int] = []
        for sid, email in sids:
            before = _get(f"{emu.url}_emulator/counters")["by_identity"].get(email, 0)
            rounds = 0
            while True:
                result = reconciler.reconcile(sid)
                rounds += 1
                if result.requeue_after is None or rounds > 30:
                    break
                time.sleep(min(result.requeue_after.total_seconds(), MAX_SLEEP_S))
            after = _get(f"{emu.url}_emulator/counters")["by_identity"].get(email, 0)
            with Session(engine) as db:
                binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).first()
            if binding is None or binding.meet_status != "success":
                raise SystemExit(f"session {sid}: no working Meet link ({binding and binding.meet_error})")
            n_polls = rounds - 1
            calls = after - before  # every call the organizer's identity made for this session
            if calls > 1 + n_polls:
                raise SystemExit(
                    f"session {sid}: {calls} calls for Meet exceed the bound 1 + {n_polls} polls"
                )
            per_session.append(calls)
            polls.append(n_polls)
    return {
        "meet_calls_per_session": statistics.mean(per_session),
        "meet_calls_per_session_max": float(max(per_session)),
        "meet_polls_per_session": statistics.mean(polls),
    }


def main() -> None:
    began = time.perf_counter()
    for name, value in meet_calls_per_session().items():
        print(f"{name}: {value:.2f}")
    print(f"meet_bench_seconds: {time.perf_counter() - began:.1f}")


if __name__ == "__main__":
    main()
