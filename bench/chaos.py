"""Chaos benchmark: PostgreSQL + a Redis of its own + two ``muster worker`` processes against the emulator,
under Google faults, workers killed with SIGKILL and a Redis restart that loses its data.

Where it sits: ``bench/``; run with ``.venv/bin/python bench/chaos.py`` (needs PostgreSQL on 127.0.0.1:5432,
like the test suite, override with ``MUSTER_TEST_POSTGRES_URL``, and ``redis-server`` on the PATH: the
benchmark starts its own on ``--redis-port``, without persistence, so a restart comes back empty). Prints one
``name: value (goal …)`` line per figure. About two minutes.

What it does: ``--sessions`` vendor-mode sessions (one host, three learners) are synced, and the first learner
of each accepts. Then, for ``--duration`` seconds, Google answers 20 % of event writes as "applied but lost",
10 % of calls with 5xx and 5 % with 429, while the platform keeps changing sessions through the REST API (a
learner enrolled or cancelled, now and then a session rescheduled, which e-mails its guests), a worker is
killed with SIGKILL every ``--kill-every`` seconds and started again, and once, half-way, Redis is killed and
restarted empty. Then the faults stop and the clock starts: ``converge_s`` is the time until every session's
Google event matches the platform.

Figures (goal 0 unless stated):

* ``duplicates`` - live Muster events beyond the first, per session, summed;
* ``missing_attendees`` / ``extra_attendees`` - guests the platform enrolled who are not on the event, and
  guests on it who should not be;
* ``orphans`` - live Muster events of no session, or not where the session's binding says;
* ``lost_writes`` - sessions whose event does not show the platform's last change (time or guests) at the end;
* ``rsvps_lost`` - learners who accepted, are still enrolled, and no longer show ``accepted``;
* ``max_emails_per_learner_per_change`` - e-mails one learner received about one session divided by that
  session's reschedules (goal at most 1);
* ``converge_s`` - seconds from the end of the faults until everything matches (goal at most 30).

Also printed, to show the chaos happened: ``platform_changes``, ``google_faults_injected`` (of which
``lost_answers_injected``), ``workers_killed`` and ``redis_restarts``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlmodel import Session, select  # noqa: E402

from bench.sync import Bench, database  # noqa: E402
from engine.store.models import CalendarBinding  # noqa: E402

NS = f"muster-chaos-{os.getpid()}"
WRITE_PATHS = "/calendar/v3/calendars/*/events/**"
TIMES = [("2027-03-01T10:00:00+01:00", "2027-03-01T11:00:00+01:00"),
         ("2027-03-02T10:00:00+01:00", "2027-03-02T11:00:00+01:00"),
         ("2027-03-03T14:00:00+01:00", "2027-03-03T15:00:00+01:00")]


class RedisServer:
    """``redis-server`` on ``port`` without persistence: killed and started again, it comes back empty."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir = port, workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("bench/chaos.py needs redis-server on the PATH")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"redis-server did not listen on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


class Chaos(Bench):
    def __init__(self, args: argparse.Namespace, db_url: str, tmp: Path, redis: RedisServer) -> None:
        self.redis = redis
        super().__init__(args, db_url, tmp)
        self.workers: dict[int, subprocess.Popen[bytes]] = {}

    def env(self, quota: int = 600) -> dict[str, str]:
        env = super().env(quota)
        env.update({"MUSTER_REDIS_URL": self.redis.url, "MUSTER_REDIS_NAMESPACE": NS,
                    "MUSTER_RETRY_MIN_BACKOFF_MS": "100", "MUSTER_RETRY_MAX_BACKOFF_MS": "2000",
                    "MUSTER_LOCK_TTL_S": "10"})
        return env

    def start_worker(self, i: int) -> None:
        log = open(self.tmp / f"chaos-worker-{i}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        # A killed worker's unacknowledged messages are taken over by the other one after this long.
        self.workers[i] = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "muster"), "worker", "--threads", "4",
             "--heartbeat-timeout-ms", str(int(self.args.heartbeat_s * 1000))],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT)

    def kill_worker(self, i: int) -> None:
        proc = self.workers.pop(i, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for i in list(self.workers):
            proc = self.workers.pop(i)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _muster_events(bench: Chaos) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for owner in bench.owners:
        for view in bench.control("GET", f"calendars/{owner}/events?includeDeleted=false")["events"]:
            event = view["event"]
            if (event.get("extendedProperties") or {}).get("private", {}).get("musterOwner") == "muster":
                out.append((owner, event))
    return out


def measure(bench: Chaos, state: dict[str, dict[str, Any]], sids: dict[str, uuid.UUID]) -> dict[str, int]:
    """The counts of the module docstring for the platform ``state`` (external id → desired session)."""
    by_session: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    orphans = 0
    known = {str(s) for s in sids.values()}
    for owner, event in _muster_events(bench):
        sid = event["extendedProperties"]["private"].get("musterSession")
        if sid in known:
            by_session.setdefault(sid, []).append((owner, event))
        else:
            orphans += 1
    with Session(bench.engine) as db:
        bindings = {str(b.session_id): b for b in db.exec(select(CalendarBinding)).all()}
    figures = dict.fromkeys(("duplicates", "missing_attendees", "extra_attendees", "orphans", "lost_writes",
                             "rsvps_lost"), 0)
    figures["orphans"] = orphans
    for ext, want in state.items():
        sid = str(sids[ext])
        live = by_session.get(sid, [])
        figures["duplicates"] += max(0, len(live) - 1)
        binding = bindings.get(sid)
        bound = [(o, e) for o, e in live if binding is not None and (o, e["id"]) == (binding.calendar_id,
                                                                                     binding.event_id)]
        figures["orphans"] += len(live) - len(bound)
        if not bound:
            figures["lost_writes"] += 1
            figures["missing_attendees"] += len(want["learners"])
            continue
        event = bound[0][1]
        guests = {a["email"]: a.get("responseStatus") for a in event.get("attendees") or []}
        expected = set(want["hosts"]) | set(want["learners"])  # vendor mode: the host is a guest too
        figures["missing_attendees"] += len(expected - set(guests))
        figures["extra_attendees"] += len(set(guests) - expected)
        if set(guests) != expected or not event["start"]["dateTime"].startswith(want["start"][:16]):
            figures["lost_writes"] += 1
        figures["rsvps_lost"] += sum(1 for who in want["accepted"] if who in expected and guests.get(who) != "accepted")
    return figures


def _converged(bench: Chaos, state: dict[str, dict[str, Any]], sids: dict[str, uuid.UUID]) -> bool:
    return all(v == 0 for v in measure(bench, state, sids).values())


def run(args: argparse.Namespace) -> dict[str, float]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="muster-chaos-") as tmpdir, database() as db_url:
        tmp = Path(tmpdir)
        redis = RedisServer(args.redis_port, tmp)
        redis.start()
        bench = Chaos(args, db_url, tmp, redis)
        try:
            return _run(bench, args, rng)
        finally:
            bench.stop_all()
            redis.kill()
            bench.server.stop()


def _run(bench: Chaos, args: argparse.Namespace, rng: random.Random) -> dict[str, float]:
    owner = bench.owners[0]
    key = bench.tenant("chaos", [owner])
    app = bench.app()
    host = bench.organizers[0]
    pool = bench.learners[: max(6, args.sessions)]
    state: dict[str, dict[str, Any]] = {}
    for i in range(args.sessions):
        learners = [pool[(3 * i + k) % len(pool)] for k in range(3)]
        state[f"c-{i}"] = {"hosts": [host], "learners": learners, "start": TIMES[0][0], "end": TIMES[0][1],
                           "accepted": [], "reschedules": 0}

    def body(ext: str) -> dict[str, Any]:
        want = state[ext]
        out = bench.body(ext, [host], want["learners"])
        out.update(start=want["start"], end=want["end"])
        return out

    for i in range(2):
        bench.start_worker(i)
    bench.puts(app, key, [(f"/v1/sessions/{ext}", body(ext)) for ext in state], width=8)
    with Session(bench.engine) as db:
        from engine.store.models import LiveSession

        sids = {s.external_id: s.id for s in db.exec(select(LiveSession)).all()}
    deadline = time.monotonic() + 120
    while not _converged(bench, state, sids):
        if time.monotonic() > deadline:
            raise SystemExit(f"the sessions did not sync before the chaos: {measure(bench, state, sids)}")
        time.sleep(0.5)
    # The first learner of each session accepts.
    with Session(bench.engine) as db:
        bindings = {b.session_id: b for b in db.exec(select(CalendarBinding)).all()}
    for ext, sid in sids.items():
        b = bindings[sid]
        who = state[ext]["learners"][0]
        bench.world.set_attendee_response(b.calendar_id, b.event_id, who, "accepted")
        state[ext]["accepted"] = [who]
    mail_mark = len(bench.world.outbox)
    # Chaos
    bench.control("PUT", "faults", {"seed": args.seed, "rules": [
        {"method": "POST", "path": "/calendar/v3/calendars/*/events", "lost_rate": 0.2},
        {"method": "PATCH", "path": "/calendar/v3/calendars/*/events/*", "lost_rate": 0.2},
        {"method": "DELETE", "path": "/calendar/v3/calendars/*/events/*", "lost_rate": 0.2},
        {"method": "*", "path": "/calendar/v3/**", "error_rate": 0.1, "error_status": 503, "rate_limit_rate": 0.05},
    ]})
    started = time.monotonic()
    next_kill = started + args.kill_every
    redis_restarted = False
    changes = kills = 0
    while time.monotonic() - started < args.duration:
        ext = rng.choice(list(state))
        want = state[ext]
        if rng.random() < 0.15:
            want["start"], want["end"] = rng.choice([t for t in TIMES if t[0] != want["start"]])
            want["reschedules"] += 1
        elif len(want["learners"]) > 1 and rng.random() < 0.4:
            want["learners"] = want["learners"][:-1]
        else:
            extra = [p for p in pool if p not in want["learners"]]
            want["learners"] = [*want["learners"], rng.choice(extra)]
        bench.puts(app, key, [(f"/v1/sessions/{ext}", body(ext))], width=1)
        changes += 1
        now = time.monotonic()
        if now >= next_kill:
            victim = rng.choice(list(bench.workers))
            bench.kill_worker(victim)
            bench.start_worker(victim)
            kills += 1
            next_kill = now + args.kill_every
        if not redis_restarted and now - started >= args.duration / 2:
            bench.redis.kill()
            time.sleep(1.0)
            bench.redis.start()
            redis_restarted = True
        time.sleep(args.change_every)
    injected = bench.control("GET", "faults")["log"]
    bench.control("DELETE", "faults")
    faults_off = time.monotonic()
    converge_s = float("nan")
    while time.monotonic() - faults_off < args.converge_timeout:
        if _converged(bench, state, sids):
            converge_s = time.monotonic() - faults_off
            break
        time.sleep(0.5)
    figures: dict[str, float] = dict(measure(bench, state, sids))
    per: dict[tuple[str, str], int] = {}
    for m in bench.world.outbox[mail_mark:]:
        if m.kind != "invitation":
            per[(m.to, m.event_id)] = per.get((m.to, m.event_id), 0) + 1
    with Session(bench.engine) as db:
        event_of = {b.event_id: b.session_id for b in db.exec(select(CalendarBinding)).all()}
    ext_of = {sid: ext for ext, sid in sids.items()}
    ratio = 0.0
    for (_to, event_id), n in per.items():
        ext = ext_of.get(event_of.get(event_id))  # type: ignore[arg-type]
        reschedules = state[ext]["reschedules"] if ext else 0
        ratio = max(ratio, n / reschedules if reschedules else float(n))
    figures["max_emails_per_learner_per_change"] = ratio
    figures["converge_s"] = converge_s
    figures["platform_changes"] = changes
    figures["google_faults_injected"] = len(injected)
    figures["lost_answers_injected"] = sum(1 for f in injected if f["fault"] == "lost")
    figures["workers_killed"] = kills
    figures["redis_restarts"] = int(redis_restarted)
    return figures


GOALS = {"duplicates": "0", "missing_attendees": "0", "extra_attendees": "0", "orphans": "0", "lost_writes": "0",
         "rsvps_lost": "0", "max_emails_per_learner_per_change": "≤ 1", "converge_s": "≤ 30"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of faults and kills")
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between worker SIGKILLs")
    parser.add_argument("--change-every", type=float, default=0.25, help="seconds between platform changes")
    parser.add_argument("--heartbeat-s", type=float, default=5.0, help="the workers' --heartbeat-timeout-ms / 1000")
    parser.add_argument("--converge-timeout", type=float, default=180.0)
    parser.add_argument("--redis-port", type=int, default=21320)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    figures = run(args)
    for name, value in figures.items():
        goal = GOALS.get(name)
        shown = f"{value:.1f}" if isinstance(value, float) else str(value)
        print(f"{name}: {shown}" + (f" (goal {goal})" if goal else ""))


if __name__ == "__main__":
    main()
