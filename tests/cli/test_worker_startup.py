"""``muster worker`` with Redis unreachable: it waits with backoff, says so in one log line, and stops cleanly.

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


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_waits_for_unreachable_redis_in_one_log_line(tmp_path: Path) -> None:
    url = f"redis://user:s3cret@127.0.0.1:{_unused_port()}/0"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env |= {"MUSTER_REDIS_URL": url, "MUSTER_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    exe = Path(sys.executable).with_name("muster")
    proc = subprocess.Popen(
        [str(exe), "worker"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(4)  # several backoff rounds
        assert proc.poll() is None, "the worker exited instead of waiting for Redis"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (out, err)
    waiting = [line for line in err.splitlines() if "waiting for Redis" in line]
    assert len(waiting) == 1, err
    assert "user:***@127.0.0.1" in waiting[0] and "MUSTER_REDIS_URL" in waiting[0]
    assert "s3cret" not in out + err
    assert "Traceback" not in out + err and "CRITICAL" not in err
