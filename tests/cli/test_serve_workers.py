"""``muster serve --workers 2`` on PostgreSQL and Redis: two web processes, each with its own socket on the port.

Where it sits: CLI tests. The server runs as a user runs it (the console script in a fresh process); the test
finds each web process's own listening socket, sends new sessions over 8 keep-alive connections at once and
checks every answer, then stops the server with SIGTERM (exit 0).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

import engine.store.models  # noqa: F401  (the tables)
from engine.ingest.tenants import create_tenant, issue_api_key
from engine.store.migrations import stamp_head_on
from engine.store.unit_of_work import make_engine, unit_of_work
from tests.api.conftest import session_body
from tests.conftest import throwaway_postgres_database


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` (IPv4), from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
            found.add(fields[9])
    return found


def _socket_inodes(pid: int) -> set[str]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


async def _put_many(port: int, key: str, clients: int, per_client: int) -> list[int]:
    import json

    statuses: list[int] = []

    async def client(c: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(per_client):
                body = json.dumps(session_body(enrollments=[])).encode()
                writer.write(
                    f"PUT /v1/sessions/w-{c}-{i} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                length = next(int(x.split(b":", 1)[1]) for x in lines if x.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                statuses.append(int(head[9:12]))
        finally:
            writer.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    return statuses


@pytest.mark.redis
def test_serve_with_two_workers_gives_each_process_its_own_socket_and_answers_on_postgres(
    tmp_path: Path, redis_url: str
) -> None:
    with throwaway_postgres_database() as url:
        engine = make_engine(url)
        SQLModel.metadata.create_all(engine)
        stamp_head_on(engine)
        with unit_of_work(engine, dispatcher=lambda ids: None) as uow:
            tenant = create_tenant(db=uow.db, slug="acme", name="Acme", vendor_owners=["owner@vendor.example"])
            key = issue_api_key(db=uow.db, tenant_id=tenant.id)
        port = _unused_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MUSTER_")}
        env |= {
            "MUSTER_DATABASE_URL": url,
            "MUSTER_REDIS_URL": redis_url,
            "MUSTER_REDIS_NAMESPACE": f"serve-test-{os.getpid()}",
            "MUSTER_SECRET_KEY": "s" * 40,
            "MUSTER_VAR_DIR": str(tmp_path),
        }
        exe = Path(sys.executable).with_name("muster")
        log_path = tmp_path / "serve.log"
        log = log_path.open("w+")
        proc = subprocess.Popen(
            [str(exe), "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            deadline = time.monotonic() + 90  # two fresh interpreters importing the app on a loaded machine
            while log_path.read_text().count("Application startup complete") < 2:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            workers = _children(proc.pid)
            listening = _listening_inodes(port)
            own = [_socket_inodes(pid) & listening for pid in workers]
            owners = [s for s in own if s]
            assert len(listening) == 2, (listening, log_path.read_text())  # one listening socket per process
            assert len(owners) == 2 and owners[0] != owners[1], own
            statuses = asyncio.run(_put_many(port, key, clients=8, per_client=5))
            assert statuses == [201] * 40, statuses
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM live_session")).scalar() == 40
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
            engine.dispose()
        text = log_path.read_text()
        assert proc.returncode == 0, text
        assert "Traceback" not in text, text
