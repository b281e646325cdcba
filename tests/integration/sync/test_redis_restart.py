"""A real Redis restart, without its data: work resumes within seconds and nothing is lost.

Where it sits: ``tests/integration/sync``, PostgreSQL (a database of its own) with two ``muster worker``
processes and a ``redis-server`` this test starts on its own port, against the emulator. Nothing is mocked:
the test stops workers, kills Redis (SIGKILL, no persistence: every queued message is gone), writes while Redis
is down, restarts Redis empty on the same port, and starts the workers again.

What it proves: changes committed before the crash whose messages were lost with Redis, and changes committed
while Redis was down (their hand-over failed), all reach Google once Redis is back: each session ends with
exactly one event holding exactly its hosts and learners, well before the outbox's ``RESEND_AFTER`` (120 s) or
the periodic sweep (an hour here) would have sent them. The relay notices that Redis lost its data
(:func:`engine.runtime.relay.redis_lost_data`) and sends every waiting request again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.api.app import create_api
from engine.settings import load_settings
from engine.store import outbox
from engine.store.unit_of_work import set_dispatcher
from tests.api.conftest import AsgiClient
from tests.conftest import REPO_ROOT, _engine_for, throwaway_postgres_database
from tests.integration.sync.conftest import (
    WORKER_ENV_KEYS,
    Emu,
    _env,
    _make_tenant,
    organizers,
    people,
    session_body,
)

#: This test's own Redis (a port of its own, so no other test's broker is touched).
PORT = int(os.environ.get("MUSTER_TEST_RESTART_REDIS_PORT", "21311"))
SESSIONS = 6
#: How soon after Redis returns every change must be on Google: below the outbox's 120 s re-send, so only the
#: relay noticing the lost data can have sent them, with room for a loaded machine (the workers boot meanwhile).
RESUME_BOUND_S = 90.0


class RedisServer:
    """A ``redis-server`` without persistence on ``port``: a restart comes back empty."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (needed to restart a real Redis)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(PORT, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class Workers:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, n: int = 2) -> None:
        for i in range(n):
            log = open(self.log_dir / f"worker-{i}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
            self.procs.append(subprocess.Popen(
                [str(REPO_ROOT / ".venv" / "bin" / "muster"), "worker", "--threads", "3"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO_ROOT),
            ))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []


def _attendees(emu: Emu, sid: uuid.UUID) -> list[set[str]]:
    return [{a["email"] for a in e.get("attendees") or []} for e in emu.events_of(sid)]


def _all_there(emu: Emu, want: dict[uuid.UUID, set[str]]) -> bool:
    return all(_attendees(emu, sid) == [emails] for sid, emails in want.items())


def _wait(emu: Emu, want: dict[uuid.UUID, set[str]], timeout_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if _all_there(emu, want):
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def test_a_redis_restart_without_its_data_loses_no_change(
    emu: Emu, private_redis: RedisServer, tmp_path: Path
) -> None:
    emu.reseed()
    with throwaway_postgres_database() as db_url:
        engine = _engine_for(db_url)
        env = {k: v for k, v in os.environ.items() if k in WORKER_ENV_KEYS}
        env.update(_env(db_url, emu, tmp_path, private_redis.url, MUSTER_REDIS_NAMESPACE="muster-restart"))
        env["PYTHONPATH"] = str(REPO_ROOT)
        settings = load_settings(env)
        workers = Workers(env, tmp_path)
        try:
            from engine.runtime.worker import producer

            _tenant_id, key = _make_tenant(engine)
            producer(settings, engine=engine)
            api = AsgiClient(create_api(settings, engine=engine))
            auth = {"Authorization": f"Bearer {key}"}
            hosts = organizers()[:1]
            learners = people("l", 3 * SESSIONS, start=170)

            def put(i: int, enrolled: list[str]) -> uuid.UUID:
                r = api.put(f"/v1/sessions/r-{i}", json=session_body(hosts=hosts, enrolled=enrolled), headers=auth)
                assert r.status_code in (200, 201), r.text
                return uuid.UUID(r.json()["id"])

            # Given synced sessions
            workers.start()
            # (vendor mode: the event is on a vendor owner account's calendar; the host is a guest)
            want = {put(i, learners[3 * i : 3 * i + 1]): set(hosts) | {learners[3 * i]} for i in range(SESSIONS)}
            assert _wait(emu, want, 90) is not None, "the sessions did not sync before the restart"
            # When changes are committed and queued while no worker runs, then Redis dies with them...
            workers.stop()
            for i, sid in enumerate(list(want)[: SESSIONS // 2]):
                put(i, learners[3 * i : 3 * i + 2])
                want[sid] = set(hosts) | set(learners[3 * i : 3 * i + 2])
            private_redis.kill()
            # ...more changes are committed while Redis is down (their hand-over fails)...
            for i, sid in list(enumerate(want))[SESSIONS // 2 :]:
                put(i, learners[3 * i : 3 * i + 3])
                want[sid] = set(hosts) | set(learners[3 * i : 3 * i + 3])
            assert outbox.backlog(engine).unsent >= SESSIONS - SESSIONS // 2
            workers.start()  # they wait for Redis
            time.sleep(1.0)
            # ...and Redis comes back empty on the same port
            private_redis.start()
            took = _wait(emu, want, RESUME_BOUND_S)
            # Then every change is on Google within seconds, each session with exactly one event
            assert took is not None, {str(s): _attendees(emu, s) for s in want}
            assert all(len(emu.events_of(sid)) == 1 for sid in want)
        finally:
            workers.stop()
            set_dispatcher(None)
            engine.dispose()
