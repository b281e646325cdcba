"""``muster worker`` started early: it waits for Redis, then for the migrations, with backoff, in one log line each.

Where it sits: CLI tests. The worker is run as a user runs it (the console script in a fresh process),
pointed at a port nothing listens on, so no Redis server is needed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_waits_for_unreachable_redis_in_one_log_line(tmp_path: Path) -> None:
    url = f"redis://user:s3cret@127.0.0.1:{_unused_port()}/0"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env |= {"MUSTER_REDIS_URL": url, "MUSTER_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    exe = Path(sys.executable).with_name("muster")
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(exe), "worker"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30  # start-up can take seconds on a loaded machine
        while "waiting for Redis" not in (tmp_path / "worker.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # several backoff rounds
        assert proc.poll() is None, "the worker exited instead of waiting for Redis"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    out, err = "", (tmp_path / "worker.log").read_text()
    assert proc.returncode == 0, (out, err)
    waiting = [line for line in err.splitlines() if "waiting for Redis" in line]
    assert len(waiting) == 1, err
    assert "user:***@127.0.0.1" in waiting[0] and "MUSTER_REDIS_URL" in waiting[0]
    assert "s3cret" not in out + err
    assert "Traceback" not in out + err and "CRITICAL" not in err


@pytest.mark.redis
def test_worker_waits_for_the_migrations_then_serves_its_health_endpoint(tmp_path: Path, redis_url: str) -> None:
    from tests.integration.sync.test_prometheus import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env |= {
        "MUSTER_REDIS_URL": redis_url,
        "MUSTER_REDIS_NAMESPACE": f"muster-startup-{os.getpid()}",
        "MUSTER_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}",
        "MUSTER_VAR_DIR": str(tmp_path),
    }
    exe = Path(sys.executable).with_name("muster")
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(exe), "worker", "--threads", "1", "--metrics-port", str(port)], cwd=tmp_path, env=env,
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while "waiting for the database" not in (tmp_path / "worker.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        text = (tmp_path / "worker.log").read_text()
        assert "run `muster db upgrade`" in text and proc.poll() is None, text
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)  # up while it waits: broker ok
        assert ready.status_code == 200 and ready.json()["checks"]["broker"]["state"] == "ok"

        upgraded = subprocess.run([str(exe), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert upgraded.returncode == 0, upgraded.stderr
        deadline = time.monotonic() + 60
        while "muster worker ready" not in (tmp_path / "worker.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        text = (tmp_path / "worker.log").read_text()
        assert "the database is ready" in text and "muster worker ready" in text, text
        assert text.count("waiting for the database") == 1
        metrics_text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert "muster_build_info" in metrics_text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    assert proc.returncode == 0
