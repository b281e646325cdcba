"""Sync engine benchmark against the Google emulator, on PostgreSQL + Redis + two ``muster worker`` processes.

Where it sits: ``bench/``; run with ``.venv/bin/python bench/sync.py`` (needs PostgreSQL on 127.0.0.1:5432
and Redis on 127.0.0.1:6379, like the test suite; override with ``MUSTER_TEST_POSTGRES_URL`` /
``MUSTER_TEST_REDIS_URL``). Prints one ``name: value`` line per figure, with its lower bound where one
exists. Each figure is the median of ``--repeat`` runs where runs are cheap. Bounded: about three minutes.

Figures:

* ``initial_calls_per_session`` - Google API calls (token endpoint excluded) to create N new sessions'
  events, per session. Bound 1.0: one insert each.
* ``patches_per_enrollment_change`` / ``calls_per_enrollment_change`` - S sessions each receive a burst
  of K enrollments (sent concurrently through the REST API). Bound: one patch per session per debounce
  window. Calls also count the one read each reconcile makes of the event (drift check).
* ``latency_p50_s`` / ``latency_p99_s`` - from an enrollment's REST call to the attendee being on the
  event in the emulator, under a sustained load of ``--rate`` enrollments per second over many sessions.
* ``noop_sweep_writes`` (bound 0) and ``noop_sweep_s`` - a drift sweep over N unchanged sessions.
* ``backlog_drain_ratio`` - B sessions queued while no worker runs, all on one owner account whose quota
  is Q requests/minute (emulator and Muster configured alike); time from the first to the last write
  divided by the quota-bound optimum (B-1)/(Q/60). Bound 1.0. ``backlog_rejected`` counts 403/429 quota
  refusals during the drain (bound 0).
* ``attendee_cap_violations`` - 250 concurrent single-enrollment PUTs to a session with one host: guests
  past 200 on its Google event (bound 0), with how many PUTs were accepted (199) and refused (51).
* ``ingest_sessions_per_s`` - new session PUTs (2 hosts, 3 learners each) per second from 8 keep-alive HTTP
  clients against ``muster serve --workers 2`` (``bench/ingest.py``), the sync workers paused meanwhile;
  ``ingest_cpu_ms_per_session`` the CPU of the web processes and of the clients per PUT;
  ``ingest_sessions_per_s_while_syncing`` the same with the sync workers running on the same cores;
  ``bulk_enroll_200_s`` one PUT of 200 new learners to a session; ``ingest_sql_per_new_session`` the SQL
  statements each new session PUT ran (through the REST app in this process);
  ``ingest_instructions_per_session`` the instructions one web process spends per new session PUT, counted by
  valgrind's callgrind (``bench/ingest.py``'s ``put_instructions``: ``muster serve --workers 1`` under callgrind,
  60 PUTs counted after 60 warm-up ones, one client): a figure the machine's load and speed do not change
  (about two minutes; ``--callgrind-puts 0`` skips it).
* ``sql_statements_per_noop_reconcile`` / ``cpu_ms_per_noop_reconcile`` - reconciles of synced, unchanged
  sessions run in this process: SQL statements each (BEGIN/COMMIT not counted) and CPU of the reconciling
  thread each (the emulator's threads excluded).
* ``instructions_per_noop_reconcile`` - the same reconcile's instructions, counted by valgrind's callgrind in a
  process of its own (``bench/noop_instructions.py``; the emulator, PostgreSQL and Redis not counted): a figure
  the machine's load does not change (about a minute; ``--callgrind-reconciles 0`` skips it).
* ``redis_keys_left`` - keys of the benchmark's Redis namespace left after the run (bound 0).
* ``meet_calls_per_session`` - delegation mode: API calls to get a working Meet link (the insert with the
  ``createRequest`` plus one read per poll while ``pending``; bound ``1 + polls``), from ``bench/meet.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from sqlmodel import Session, SQLModel, col, select  # noqa: E402

import engine.store.models  # noqa: E402,F401
from connectors.google_emulator.seed import load_seed  # noqa: E402
from connectors.google_emulator.server import EmulatorServer  # noqa: E402
from connectors.google_emulator.state import EmulatorOptions, World  # noqa: E402
from engine.api.app import create_api  # noqa: E402
from engine.ingest.tenants import create_tenant, issue_api_key  # noqa: E402
from engine.runtime.worker import producer  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from engine.store.migrations import stamp_head_on  # noqa: E402
from engine.store.models import CalendarBinding, LiveSession  # noqa: E402
from engine.store.unit_of_work import make_engine, unit_of_work  # noqa: E402
from engine.sync.sweep import sweep  # noqa: E402

SEED = REPO.parent / "shared" / "data" / "acme-workspace.json"
PG_ADMIN = os.environ.get("MUSTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("MUSTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NS = f"muster-bench-{os.getpid()}"
DEBOUNCE_MS = 200


def psycopg_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@contextmanager
def database() -> Iterator[str]:
    name = f"muster_bench_{os.getpid()}"
    admin = sa.create_engine(psycopg_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield psycopg_url(PG_ADMIN).rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Bench:
    def __init__(self, args: argparse.Namespace, db_url: str, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.db_url = db_url
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.workspace = json.loads(SEED.read_text())
        self.vendor = self.workspace["vendor"]
        self.owners: list[str] = list(self.vendor["ownerAccounts"])
        self.learners = [u["primaryEmail"] for u in self.workspace["users"] if u.get("role") == "learner"]
        self.organizers = [u["primaryEmail"] for u in self.workspace["users"] if u.get("role") == "organizer"]
        self.world = World(options=EmulatorOptions(room_response_delay_s=0.0))
        self.server = EmulatorServer(world=self.world).start()
        self.seed()
        self.key_file = tmp / "sa.json"
        self.key_file.write_text(
            json.dumps(
                self.control("GET", f"service-accounts/{self.vendor['serviceAccount']['client_email']}/key")
            )
        )
        self.engine = make_engine(db_url)
        SQLModel.metadata.create_all(self.engine)
        stamp_head_on(self.engine)  # the models are the head schema; `muster worker` waits for a migrated one
        self.seen: dict[tuple[str, str], float] = {}
        self.write_times: list[tuple[float, str]] = []
        self.world.after_event_write.append(self._on_write)
        self.procs: list[subprocess.Popen[bytes]] = []

    # ------------------------------------------------------------------ plumbing
    def _on_write(self, _world: Any, calendar_id: str, event: dict[str, Any]) -> None:
        now = time.monotonic()
        self.write_times.append((now, calendar_id))
        session = ((event.get("extendedProperties") or {}).get("private") or {}).get("musterSession")
        if not session:
            return
        for att in event.get("attendees") or []:
            self.seen.setdefault((session, att.get("email", "")), now)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, self.server.url + "_emulator/" + path, json=body, timeout=30)
        r.raise_for_status()
        return r.json() if r.content else None

    def seed(self) -> None:
        self.world.reset()
        data = json.loads(SEED.read_text())
        data["vendor"]["serviceAccount"] = {
            **data["vendor"]["serviceAccount"],
            "private_key": self.pem,
            "private_key_id": "benchkey1",
        }
        load_seed(self.world, data)
        self.control(
            "POST",
            "delegation-grants",
            [
                {
                    "clientId": self.vendor["serviceAccount"]["client_id"],
                    "customerDomain": self.vendor["domain"],
                    "scopes": ["https://www.googleapis.com/auth/calendar"],
                }
            ],
        )

    def env(self, quota: int = 600) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        env.update(
            {
                "MUSTER_DATABASE_URL": self.db_url,
                "MUSTER_REDIS_URL": REDIS,
                "MUSTER_REDIS_NAMESPACE": NS,
                "MUSTER_SECRET_KEY": "b" * 40,
                "MUSTER_GOOGLE_ROOT_URL": self.server.url,
                "MUSTER_GOOGLE_SERVICE_ACCOUNT_FILE": str(self.key_file),
                "MUSTER_VAR_DIR": str(self.tmp),
                "MUSTER_DEBOUNCE_MS": str(DEBOUNCE_MS),
                "MUSTER_QUOTA_USER_PER_MINUTE": str(quota),
                "MUSTER_RETRY_MIN_BACKOFF_MS": "200",
                "MUSTER_RETRY_MAX_BACKOFF_MS": "5000",
                "MUSTER_SWEEP_INTERVAL_S": "86400",
                "PYTHONPATH": str(REPO),
            }
        )
        return env

    def start_workers(self, quota: int = 600) -> None:
        self.stop_workers()
        for i in range(2):
            log = open(self.tmp / f"worker-{i}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [str(REPO / ".venv" / "bin" / "muster"), "worker", "--threads", "4"],
                    env=self.env(quota),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            logs = [p.read_text(errors="replace") for p in self.tmp.glob("worker-*.log")]
            if sum("muster worker ready" in t for t in logs) >= len(self.procs) + self._ready_before:
                break
            time.sleep(0.1)
        self._ready_before += len(self.procs)

    _ready_before = 0

    def stop_workers(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []

    def tenant(self, slug: str, owners: list[str]) -> str:
        with unit_of_work(self.engine, dispatcher=lambda ids: None) as uow:
            t = create_tenant(db=uow.db, slug=slug, name=slug, domain="acme.example", vendor_owners=owners)
            return issue_api_key(db=uow.db, tenant_id=t.id)

    def app(self) -> Any:
        settings = load_settings(self.env())
        producer(settings, engine=self.engine)
        return create_api(settings, engine=self.engine)

    def puts(
        self,
        app: Any,
        key: str,
        calls: list[tuple[str, Any]],
        width: int = 10,
        sent: dict[int, float] | None = None,
    ) -> None:
        async def run() -> None:
            transport = httpx.ASGITransport(app=app)
            sem = asyncio.Semaphore(width)
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://bench",
                headers={"Authorization": f"Bearer {key}"},
                timeout=120,
            ) as c:

                async def one(i: int, path: str, body: Any) -> None:
                    async with sem:
                        if sent is not None:
                            sent[i] = time.monotonic()
                        for _attempt in range(5):  # 409: a concurrent request created the same person
                            r = await c.put(path, json=body)
                            if r.status_code != 409:
                                break
                        if r.status_code not in (200, 201):
                            raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")

                await asyncio.gather(*(one(i, p, b) for i, (p, b) in enumerate(calls)))

        asyncio.run(run())

    def idle(self, timeout: float = 180) -> float:
        """Wait until nothing is queued or pending and every session is synced at its revision, seen so three
        checks in a row (0.1 s apart); returns the ``time.monotonic()`` of the first of those checks, so a
        figure timed to it does not include the checks that confirm it."""
        import redis

        client = redis.Redis.from_url(REDIS)
        deadline = time.monotonic() + timeout
        stable = 0
        since = 0.0
        while time.monotonic() < deadline:
            checked = time.monotonic()
            queued = any(
                client.hlen(f"{NS}:{q}.msgs") or client.llen(f"{NS}:{q}")
                for q in ("muster-sync", "muster-sync.DQ", "muster-sync-bg", "muster-sync-bg.DQ")
            )
            pending = any(True for _ in client.scan_iter(f"{NS}:pending:*"))
            if not queued and not pending and self.settled():
                since = since if stable else checked
                stable += 1
                if stable >= 3:
                    return since
            else:
                stable = 0
            time.sleep(0.1)
        raise TimeoutError("the workers did not settle")

    def settled(self) -> bool:
        """Every session synced at its revision: one counting statement, cheap at 10,000 sessions."""
        synced = col(CalendarBinding.synced_revision)
        behind = (
            select(sa.func.count())
            .select_from(LiveSession)
            .outerjoin(CalendarBinding, col(CalendarBinding.session_id) == col(LiveSession.id))
            .where(sa.or_(synced.is_(None), synced != col(LiveSession.revision)))
        )
        with Session(self.engine) as db:
            return db.exec(behind).one() == 0

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters"))

    def reset_counters(self) -> None:
        self.control("DELETE", "counters")

    @staticmethod
    def writes(counters: dict[str, Any]) -> int:
        return sum(
            v
            for k, v in counters["by_route"].items()
            if k.split(" ", 1)[0] in ("POST", "PATCH", "PUT", "DELETE") and "/events" in k
        )

    def body(self, ext: str, hosts: list[str], learners: list[str]) -> dict[str, Any]:
        return {
            "title": f"Bench {ext}",
            "description": "Benchmark session.",
            "timeZone": "Europe/Berlin",
            "start": "2027-03-01T10:00:00+01:00",
            "end": "2027-03-01T11:00:00+01:00",
            "organizer": hosts[0],
            "coHosts": hosts[1:],
            "video": "manual",
            "manualJoinLink": "https://meet.example/x",
            "enrollments": [{"email": e, "status": "enrolled"} for e in learners],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=60, help="N new sessions (initial, sweep)")
    parser.add_argument("--burst-sessions", type=int, default=10)
    parser.add_argument("--burst-size", type=int, default=20)
    parser.add_argument("--rate", type=float, default=8.0, help="enrollments per second for latency")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of sustained load")
    parser.add_argument("--backlog", type=int, default=150)
    parser.add_argument("--quota", type=int, default=600, help="per-user quota for the backlog drain")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only",
        choices=("all", "hot"),
        default="all",
        help="hot: only the hot-path figures (attendee cap, ingest, no-op reconcile), about a minute",
    )
    parser.add_argument("--ingest-sessions", type=int, default=600, help="new sessions for ingest_sessions_per_s")
    parser.add_argument("--serve-port", type=int, default=0, help="port of `muster serve` (default: a free one)")
    parser.add_argument("--noop-reconciles", type=int, default=200, help="reconciles for the no-op cost figures")
    parser.add_argument(
        "--callgrind-puts", type=int, default=60,
        help="new session PUTs counted by callgrind for ingest_instructions_per_session (0: not measured)",
    )
    parser.add_argument(
        "--callgrind-reconciles", type=int, default=20,
        help="no-op reconciles counted by callgrind for instructions_per_noop_reconcile (0: not measured)",
    )
    parser.add_argument(
        "--transfer-sessions",
        type=int,
        default=200,
        help="sessions of the organizer whose events are transferred (bench/transfer.py)",
    )
    args = parser.parse_args()
    import logging
    import tempfile

    logging.disable(logging.WARNING)  # the API logs each retried 409 race; the figures are what matter

    with database() as db_url, tempfile.TemporaryDirectory() as tmpdir:
        b = Bench(args, db_url, Path(tmpdir))
        try:
            run(b, args)
        finally:
            b.stop_workers()
            b.server.stop()
            b.engine.dispose()
            import redis

            client = redis.Redis.from_url(REDIS)
            for k in client.scan_iter(f"{NS}:*"):
                client.delete(k)
            print(f"redis_keys_left: {sum(1 for _ in client.scan_iter(f'{NS}:*'))} (bound 0)")

    if args.only == "hot":
        return
    # Organizer lifecycle: API calls per session when one organizer's sessions are transferred.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import transfer as transfer_bench

    for name, value in transfer_bench.figures(args.transfer_sessions).items():
        print(f"{name}: {value}")

    # Organizer delegation: calls to get a working Meet link per session (bench/meet.py).
    import meet as meet_bench

    for name, value in meet_bench.meet_calls_per_session().items():
        bound = " (bound: 1 + polls while pending)" if name == "meet_calls_per_session" else ""
        print(f"{name}: {value:.2f}{bound}")


def run(b: Bench, args: argparse.Namespace) -> None:
    b.start_workers()
    app = b.app()
    hosts = b.organizers[:2]
    if args.only == "hot":
        hot_path(b, app, hosts, args)
        return

    # ---------------------------------------------------------------- initial creation
    initial: list[float] = []
    keys: list[str] = []
    for rep in range(args.repeat):
        key = b.tenant(f"bench-init-{rep}", b.owners)
        keys.append(key)
        b.idle()
        b.reset_counters()
        calls = [
            (f"/v1/sessions/init-{rep}-{i}", b.body(f"init-{i}", hosts, b.learners[i % 150 : i % 150 + 3]))
            for i in range(args.sessions)
        ]
        b.puts(app, key, calls)
        b.idle()
        initial.append(b.counters()["total"] / args.sessions)
    print(f"initial_calls_per_session: {statistics.median(initial):.2f} (bound 1.0)")

    # ---------------------------------------------------------------- bursts of enrollments
    patch_ratio: list[float] = []
    call_ratio: list[float] = []
    bound_ratio: list[float] = []
    for rep in range(args.repeat):
        key = keys[rep]
        b.reset_counters()
        changes = 0
        windows = 0
        for s in range(args.burst_sessions):  # one session's burst at a time, its enrollments concurrent
            calls = []
            for k in range(args.burst_size):
                email = b.learners[(50 + s * args.burst_size + k) % len(b.learners)]
                calls.append((f"/v1/sessions/init-{rep}-{s}/enrollments/{email}", {"status": "enrolled"}))
            started = time.monotonic()
            b.puts(app, key, calls, width=args.burst_size)
            windows += math.ceil((time.monotonic() - started) / (DEBOUNCE_MS / 1000))
            changes += len(calls)
        b.idle()
        c = b.counters()
        patch_ratio.append(b.writes(c) / changes)
        call_ratio.append(c["total"] / changes)
        bound_ratio.append(windows / changes)
    print(
        f"patches_per_enrollment_change: {statistics.median(patch_ratio):.3f} "
        f"(bound {statistics.median(bound_ratio):.3f}: one patch per session per {DEBOUNCE_MS} ms window "
        f"the burst spanned)"
    )
    print(
        f"calls_per_enrollment_change: {statistics.median(call_ratio):.3f} "
        f"(bound {statistics.median(bound_ratio):.3f} for the patches; a reconcile patches with If-Match on the "
        "etag it last saw, reading its event only when that is refused 412)"
    )

    # ---------------------------------------------------------------- latency under sustained load
    key = keys[0]
    b.seen.clear()
    sent: dict[int, float] = {}
    n = int(args.rate * args.duration)
    # sessions and learners the bursts above did not touch, so every enrollment is a new attendee
    sessions = [f"init-0-{i}" for i in range(args.burst_sessions, args.sessions)]
    learners = b.learners[120:200]
    plan = [(sessions[i % len(sessions)], learners[(i // len(sessions)) % len(learners)]) for i in range(n)]
    with Session(b.engine) as db:
        ids = {s.external_id: str(s.id) for s in db.exec(select(LiveSession)).all()}
    threads: list[threading.Thread] = []
    started = time.monotonic()
    for i, (ext, email) in enumerate(plan):
        target = started + i / args.rate
        time.sleep(max(0.0, target - time.monotonic()))
        t = threading.Thread(
            target=b.puts,
            args=(app, key, [(f"/v1/sessions/{ext}/enrollments/{email}", {"status": "enrolled"})], 1, None),
        )
        sent[i] = time.monotonic()
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    b.idle()
    lat = sorted(
        b.seen[(ids[ext], email)] - sent[i]
        for i, (ext, email) in enumerate(plan)
        if (ids[ext], email) in b.seen
    )
    missing = len(plan) - len(lat)
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(
        f"latency_p50_s: {p50:.3f} (debounce {DEBOUNCE_MS / 1000:.1f}; {args.rate:g} enrollments/s, "
        f"2 workers x 4 threads, PostgreSQL + Redis)"
    )
    print(f"latency_p99_s: {p99:.3f}" + (f" ({missing} never seen)" if missing else ""))

    # ---------------------------------------------------------------- no-op sweep
    from engine.runtime.worker import producer as make_producer

    tasks = make_producer(load_settings(b.env()), engine=b.engine)
    sweep_writes: list[int] = []
    sweep_s: list[float] = []
    sweep_n = 0
    for _ in range(args.repeat):
        b.idle()
        b.reset_counters()
        started = time.monotonic()
        report = sweep(b.engine, tasks.enqueue)
        sweep_n = report.enqueued
        sweep_s.append(b.idle() - started)
        sweep_writes.append(b.writes(b.counters()))
    print(f"noop_sweep_writes: {statistics.median(sweep_writes)} (bound 0)")
    print(f"noop_sweep_s: {statistics.median(sweep_s):.2f} (over {sweep_n} unchanged sessions)")

    # ---------------------------------------------------------------- backlog drain under quota
    b.stop_workers()
    owner = b.owners[0]
    key = b.tenant("bench-backlog", [owner])
    b.control("PUT", "quotas", {"per_user_per_minute": args.quota})
    calls = [
        (f"/v1/sessions/backlog-{i}", b.body(f"backlog-{i}", hosts, b.learners[i % 100 : i % 100 + 2]))
        for i in range(args.backlog)
    ]
    b.puts(app, key, calls)
    b.reset_counters()
    b.write_times.clear()
    b.start_workers(quota=args.quota)
    b.idle(timeout=args.backlog / (args.quota / 60) * 3 + 60)
    times = sorted(t for t, cal in b.write_times if cal == owner)
    drain = times[-1] - times[0]
    optimum = (len(times) - 1) / (args.quota / 60)
    rejected = sum(v for k, v in b.counters()["by_status"].items() if str(k) in ("403", "429"))
    print(
        f"backlog_drain_ratio: {drain / optimum:.2f} (bound 1.0; {len(times)} writes in {drain:.1f}s, "
        f"quota {args.quota}/min on one owner)"
    )
    print(f"backlog_rejected: {rejected} (bound 0)")
    b.control("DELETE", "quotas")

    hot_path(b, app, hosts, args)


def hot_path(b: Bench, app: Any, hosts: list[str], args: argparse.Namespace) -> None:
    attendee_cap(b, app, hosts[:1])
    ingest_rate(b, app, hosts, args.ingest_sessions, args.serve_port)
    print(ingest_instructions(b, hosts, args.callgrind_puts))
    noop_reconcile_cost(b, args.noop_reconciles)


def attendee_cap(b: Bench, app: Any, hosts: list[str]) -> None:
    """250 concurrent single enrollments on a one-host session: the event must end with 200 guests."""
    key = b.tenant("bench-cap", b.owners)
    b.puts(app, key, [("/v1/sessions/cap", b.body("cap", hosts, []))])
    codes: list[int] = []

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        sem = asyncio.Semaphore(50)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {key}"}, timeout=120
        ) as c:

            async def one(i: int) -> None:
                async with sem:
                    codes.append((await c.put(f"/v1/sessions/cap/enrollments/cap{i:03d}@acme.example")).status_code)

            await asyncio.gather(*(one(i) for i in range(250)))

    asyncio.run(run())
    b.idle()
    with Session(b.engine) as db:
        sid = db.exec(select(LiveSession.id).where(LiveSession.external_id == "cap")).one()
        binding = db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one()
    events = b.control("GET", f"calendars/{binding.calendar_id}/events")["events"]
    (event,) = [e["event"] for e in events if e["event"]["id"] == binding.event_id]
    guests = len(event.get("attendees") or [])
    accepted = sum(1 for c in codes if c in (200, 201))
    refused = sum(1 for c in codes if c == 422)
    print(
        f"attendee_cap_violations: {max(0, guests - 200)} (bound 0; {guests} guests on the event, "
        f"{accepted} PUTs accepted, {refused} refused 422, of 250 concurrent on a one-host session)"
    )


def ingest_rate(b: Bench, app: Any, hosts: list[str], n: int, serve_port: int = 0) -> None:
    """New session PUTs per second with 8 concurrent clients against ``muster serve --workers 2`` (bench/ingest.py),
    the CPU split between server and clients, a bulk enrollment of 200 learners, and SQL statements per PUT."""
    import ingest
    from sqlalchemy import event

    key = b.tenant("bench-ingest", b.owners)

    def body(i: int) -> dict[str, Any]:  # learners new to the tenant for the first 50 sessions, then known ones
        return b.body(f"ingest-{i}", hosts, b.learners[(i * 3) % 150 : (i * 3) % 150 + 3])

    # Statements: the same route in this process (they do not depend on the transport), 40 new sessions.
    b.puts(app, key, [(f"/v1/sessions/sql-{i}", body(i)) for i in range(8)], width=8)  # the people exist
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    counted = [(f"/v1/sessions/sql-{i}", body(i)) for i in range(8, 48)]
    event.listen(b.engine, "before_cursor_execute", count)
    try:
        b.puts(app, key, counted, width=8)
    finally:
        event.remove(b.engine, "before_cursor_execute", count)
    print(
        f"ingest_sql_per_new_session: {statements[0] / len(counted):.1f} (goal <= 6; {len(counted)} new sessions "
        "with 2 hosts and 3 learners, some of them new people; BEGIN/COMMIT not counted)"
    )

    # Throughput: `muster serve --workers 2` (one web process per core, the documented production way) over TCP.
    port = serve_port or ingest.unused_port()
    requests = [ingest.encode_put(f"/v1/sessions/ingest-{i}", body(i), key) for i in range(n)]
    lines: list[str] = []
    for phase in ("paused", "syncing"):
        if phase == "paused":
            b.stop_workers()  # the sync workers' CPU stays out of the window; they drain the queue afterwards
        with ingest.serve(b.env(), port, 2, b.tmp / f"serve-{phase}.log") as pids:
            batch = requests if phase == "paused" else [
                ingest.encode_put(f"/v1/sessions/ingest-s{i}", body(i), key) for i in range(n)
            ]
            ingest.drive(port, batch[:16], 8, pids)  # warm-up: every process has connections and caches
            run = ingest.drive(port, batch[16:], 8, pids)
            rate = run.requests / run.elapsed_s
            if phase == "paused":
                lines.append(
                    f"ingest_sessions_per_s: {rate:.0f} (goal >= 250; {run.requests} new sessions, 8 keep-alive "
                    "clients, muster serve --workers 2 on PostgreSQL + Redis, the sync workers paused meanwhile)"
                )
                lines.append(
                    f"ingest_cpu_ms_per_session: {(run.server_cpu_s + run.client_cpu_s) * 1000 / run.requests:.2f} "
                    f"(server {run.server_cpu_s * 1000 / run.requests:.2f} in the 2 web processes, clients "
                    f"{run.client_cpu_s * 1000 / run.requests:.2f}; PostgreSQL and Redis not included)"
                )
                lines.append(bulk_enroll(b, ingest, port, key, hosts[:1]))
            else:
                lines.append(
                    f"ingest_sessions_per_s_while_syncing: {rate:.0f} (the same with the 2 sync workers running on "
                    "the same 2 cores, syncing each new session to the emulator meanwhile)"
                )
        if phase == "paused":
            b.start_workers()
    for line in lines:
        print(line)
    b.idle()


def ingest_instructions(b: Bench, hosts: list[str], n: int) -> str:
    """``ingest_instructions_per_session``: ``n`` new session PUTs (the ingest figure's shape) counted by callgrind in
    a ``muster serve --workers 1`` of their own, after ``n`` warm-up ones (bench/ingest.py ``put_instructions``)."""
    import shutil

    import ingest

    name = "ingest_instructions_per_session"
    if n <= 0:
        return f"{name}: not measured (--callgrind-puts 0)"
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        return f"{name}: not measured (valgrind is not installed: apt-get install valgrind)"
    key = b.tenant("bench-callgrind", b.owners)
    requests = [
        ingest.encode_put(f"/v1/sessions/cg-{i}", b.body(f"cg-{i}", hosts, b.learners[(i * 3) % 150:(i * 3) % 150 + 3]),
                          key)
        for i in range(2 * n)
    ]
    started = time.monotonic()
    per = ingest.put_instructions(b.env(), ingest.unused_port(), requests[:n], requests[n:], b.tmp)
    return (f"{name}: {per / 1e6:.2f} M (valgrind --tool=callgrind, {n} new session PUTs with 2 hosts and 3 learners "
            f"after {n} warm-up ones, one client, to muster serve --workers 1 on PostgreSQL + Redis: the web process's "
            f"every thread, the clients, PostgreSQL and Redis not counted; the same whatever the machine's load; "
            f"{time.monotonic() - started:.0f} s)")


def bulk_enroll(b: Bench, ingest: Any, port: int, key: str, hosts: list[str]) -> str:
    """Median wall time of one PUT /v1/sessions/{id}/enrollments of 200 new learners (199 enrolled: the attendee
    cap with the one host; 1 waitlisted) on a session with none, answered with the whole list; each PUT on a
    connection of its own (so on either web process)."""
    times: list[float] = []
    for rep in range(10):  # the first 3 warm up the web processes (each compiles the route's statements once)
        ext = f"bulk-{rep}"
        status, _ = ingest.one_put(port, ingest.encode_put(f"/v1/sessions/{ext}", b.body(ext, hosts, []), key))
        assert status == 201, status
        learners = [
            {"email": f"bulk{rep}-{i:03d}@acme.example", "status": "enrolled" if i < 199 else "waitlisted"}
            for i in range(200)
        ]
        request = ingest.encode_put(f"/v1/sessions/{ext}/enrollments", {"enrollments": learners}, key)
        status, elapsed = ingest.one_put(port, request)
        assert status == 200, status
        if rep >= 3:
            times.append(elapsed)
    return (
        f"bulk_enroll_200_s: {statistics.median(times):.3f} (goal <= 0.05; median of 7 PUTs of 200 new learners "
        "to a session, one at a time after 3 warm-up ones, through muster serve, the answer listing all 200)"
    )


def noop_reconcile_cost(b: Bench, n: int) -> None:
    """SQL statements, Redis round trips and reconciling-thread CPU per reconcile of a synced, unchanged
    session, run as the drift sweep's ``verify_session`` actor runs it: the session's lease taken (clearing
    its "scheduled" marker), the reconcile reading the event, the lease released; the batched verification
    times are written inside the window."""
    import redis.connection
    from sqlalchemy import event

    from engine.runtime import locks, ratelimit
    from engine.runtime.actors import background_key
    from engine.runtime.wiring import build_runtime
    from engine.store.models import SyncStatus

    # Quotas out of the way (here and in the emulator): the figure is the reconcile's own cost, not the
    # pacing of 200 back-to-back reconciles on three owner accounts (backlog_drain_ratio measures that).
    env = {**b.env(), "MUSTER_QUOTA_USER_PER_MINUTE": "1000000", "MUSTER_QUOTA_PROJECT_PER_MINUTE": "10000000"}
    runtime = build_runtime(load_settings(env), engine=b.engine)
    b.control("PUT", "quotas", {"per_user_per_minute": 1_000_000, "per_project_per_minute": 10_000_000})
    with Session(b.engine) as db:
        sids = list(
            db.exec(
                select(CalendarBinding.session_id).where(CalendarBinding.sync_status == SyncStatus.SYNCED.value)
            ).all()
        )[:n]

    def one(sid: Any) -> None:  # as the sweep's verify_session runs it: the event is read (drift check)
        key = background_key(str(sid))
        with ratelimit.background(), locks.held(
            runtime.lock, str(sid), 60.0, clearing=runtime.debouncer, marker=key
        ) as lease:
            assert lease is not None
            runtime.reconciler.reconcile(sid, verify=True)

    for sid in sids[:5]:  # warm-up: clients and credentials built, caches filled
        one(sid)
    runtime.reconciler.flush_verified()
    statements = [0]
    round_trips = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    send = redis.connection.Connection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        if threading.current_thread() is main_thread:
            round_trips[0] += 1
        send(self, command, check_health)  # type: ignore[no-untyped-call]

    main_thread = threading.current_thread()
    b.reset_counters()
    event.listen(b.engine, "before_cursor_execute", count)
    redis.connection.Connection.send_packed_command = counted  # type: ignore[method-assign]
    cpu = time.thread_time()
    try:
        for sid in sids:
            one(sid)
        runtime.reconciler.flush_verified()
    finally:
        cpu = time.thread_time() - cpu
        redis.connection.Connection.send_packed_command = send  # type: ignore[method-assign]
        event.remove(b.engine, "before_cursor_execute", count)
    writes = b.writes(b.counters())
    b.control("DELETE", "quotas")
    print(
        f"sql_statements_per_noop_reconcile: {statements[0] / len(sids):.2f} (goal <= 3; {len(sids)} reconciles, "
        f"{writes} Google writes; the verification times' batch write included)"
    )
    print(f"redis_round_trips_per_noop_reconcile: {round_trips[0] / len(sids):.2f} (lease with marker, quota, release)")
    print(
        f"cpu_ms_per_noop_reconcile: {cpu * 1000 / len(sids):.2f} (goal <= 4; the reconciling thread, lease and "
        "the event's read included, quotas raised)"
    )
    print(noop_instructions(b, env, [str(s) for s in sids], getattr(b.args, "callgrind_reconciles", 20)))


def noop_instructions(b: Bench, env: dict[str, str], sids: list[str], n: int) -> str:
    """``instructions_per_noop_reconcile``: ``n`` no-op reconciles in a process of their own under callgrind
    (``bench/noop_instructions.py``), the emulator, PostgreSQL and Redis outside it."""
    import shutil

    import ingest

    name = "instructions_per_noop_reconcile"
    if n <= 0:
        return f"{name}: not measured (--callgrind-reconciles 0)"
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        return f"{name}: not measured (valgrind is not installed: apt-get install valgrind)"
    out = b.tmp / "callgrind.out"
    # the warm-up covers every owner account (each has its access token fetched, a signed JWT, once an hour)
    # and the reconciles counted are of sessions of one shape (the ingest figure's: 2 hosts, 3 learners), not
    # the attendee-cap session's 200 guests, so the figure does not depend on which sessions come first
    with Session(b.engine) as db:
        owner = {str(sid): o for sid, o in db.exec(select(CalendarBinding.session_id, CalendarBinding.owner_email))}
        shaped = {str(sid) for sid in db.exec(
            select(LiveSession.id).where(col(LiveSession.external_id).startswith("ingest-")))}
    sids = [sid for sid in sids if sid in shaped] or sids
    first = {owner.get(sid): sid for sid in reversed(sids)}
    warm = sorted(set(first.values()) | set(sids[:3]), key=sids.index)
    measure = [sid for sid in sids if sid not in warm][:n]
    started = time.monotonic()
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         str(REPO / ".venv" / "bin" / "python"), str(REPO / "bench" / "noop_instructions.py"),
         "--warm-up", *warm, "--measure", *measure],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        return f"{name}: not measured (the callgrind run failed: {(done.stderr or done.stdout)[-300:]!r})"

    overhead = ingest.callgrind_totals(out.with_name(out.name + ".1"))  # the empty window: switching on and off
    per = (ingest.callgrind_totals(out) - overhead) / len(measure)
    return (f"{name}: {per / 1e6:.2f} M (valgrind --tool=callgrind, {len(measure)} reconciles as above in a "
            f"process of their own, its every thread, the emulator, PostgreSQL and Redis not counted; the same "
            f"whatever the machine's load; {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
