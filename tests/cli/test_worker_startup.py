"""``muster worker`` with Redis unreachable: one line naming MUSTER_REDIS_URL and the fix, exit 2.

Where it sits: CLI tests. The worker is run as a user runs it (the console script in a fresh process),
pointed at a port nothing listens on, so no Redis server is needed.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.cli.test_cli import muster


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_worker_with_unreachable_redis_exits_2_with_one_line(tmp_path: Path) -> None:
    url = f"redis://user:s3cret@127.0.0.1:{_unused_port()}/0"
    started = time.monotonic()
    result = muster(
        "worker",
        env={"MUSTER_REDIS_URL": url, "MUSTER_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"},
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: MUSTER_REDIS_URL: cannot reach Redis at")
    assert "start Redis or correct the URL" in lines[0]
    assert "s3cret" not in result.stderr and "user:***@127.0.0.1" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr and "CRITICAL" not in result.stderr
    assert elapsed < 30  # gave up after one check instead of retrying forever
