"""``muster demo`` (serving): it starts on SQLite, prints where to look, serves it, and stops cleanly on Ctrl-C.

Runs the real command as a subprocess on free ports and its own var dir (``--port``, ``--emulator-port 0``,
``--var-dir``), so parallel runs do not collide, then fetches every address the summary printed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 120.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _default_sigint() -> None:
    """The child reacts to Ctrl-C even when the test runner was started with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _search(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.M)
    assert found is not None, f"{pattern!r} not in the demo's output:\n{text}"
    return found.group(1)


def test_demo_serves_what_it_prints_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
    env["PYTHONUNBUFFERED"] = "1"
    args = [sys.executable, "-c", "from engine.cli.main import main; main()", "demo", "--port", str(port),
            "--emulator-port", "0", "--var-dir", str(tmp_path / "demo")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=tmp_path, preexec_fn=_default_sigint)
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Serving on "):
                serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not serving.wait(0.2):
            assert proc.poll() is None, "the demo exited early:\n" + "".join(lines)
            assert time.monotonic() < deadline, "the demo did not start serving:\n" + "".join(lines)
        out = "".join(lines)
        base = f"http://127.0.0.1:{port}"
        assert f"Serving on {base} - press Ctrl-C to stop." in out
        assert _search(r"^REST API docs:\s+(\S+)$", out) == f"{base}/docs"
        assert _search(r"^Admin UI:\s+(\S+)$", out) == f"{base}/admin/"
        calendar_page = _search(r"^\s+organizer's calendar: (\S+)$", out)
        api_key = _search(r"^API key:\s+(mk_\S+)", out)
        assert re.search(r"Tenant 'acme': \d+ sessions ingested through the REST API", out), out

        with httpx.Client(timeout=15) as client:
            health = client.get(f"{base}/healthz")
            assert health.status_code == 200, health.text
            docs = client.get(f"{base}/docs")
            assert docs.status_code == 200 and "swagger" in docs.text.lower()
            calendar = client.get(calendar_page)
            assert calendar.status_code == 200 and "ada.torvalds0@acme.example" in calendar.text
            login = client.get(f"{base}/admin/login")
            assert login.status_code == 200
            assert 'name="password"' in login.text and 'name="csrf_token" value="' in login.text
            listed = client.get(f"{base}/v1/sessions?limit=5", headers={"Authorization": f"Bearer {api_key}"})
            assert listed.status_code == 200, listed.text

        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    reader.join(timeout=10)
    out = "".join(lines)
    assert code == 0, out
    assert "Traceback" not in out, out
    assert "Stopping..." in out
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # the port was released
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
