"""Security headers on every answer, an access log without OAuth secrets, and owner-only files.

Where it sits: :mod:`engine.api.security_headers` in the real web app (admin UI + REST API), a real uvicorn
server for the access log, and :mod:`engine.private_files` through the code paths that create Muster's
files (settings' development key, the SQLite engine).
"""

from __future__ import annotations

import logging
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from starlette.routing import Mount
from starlette.testclient import TestClient

from admin_ui.web import create_web_app
from engine.settings import load_settings
from engine.store.unit_of_work import make_engine
from tests.admin_ui.conftest import settings_for
from tests.admin_ui.factories import World

EXPECTED = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _paths(app: FastAPI) -> list[tuple[str, str]]:
    api = next(m.app for m in app.routes if isinstance(m, Mount) and m.path == "")
    out = []
    for doc in (app.openapi(), api.openapi()):  # type: ignore[attr-defined]
        for path, item in doc["paths"].items():
            url = path.replace("{session_id}", "00000000-0000-0000-0000-000000000000")
            url = url.replace("{external_id}", "x").replace("{email}", "a@b.example")
            out += [(m.upper(), url) for m in item if m in ("get", "post", "put", "patch", "delete")]
    return out


def _check(response: httpx.Response, where: str) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, f"{where}: {name}"
    csp = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, where


@pytest.mark.parametrize("who", ["anonymous", "admin"])
def test_every_answer_carries_the_headers(
    who: str, web_app: FastAPI, client_as: Callable[..., TestClient], world: World
) -> None:
    client = client_as(None if who == "anonymous" else "admin")
    seen = 0
    for method, url in [*_paths(web_app), ("GET", "/admin/static/admin.css"), ("GET", "/no/such/page")]:
        response = client.request(method, url, follow_redirects=False)
        _check(response, f"{who} {method} {url} -> {response.status_code}")
        assert "strict-transport-security" not in response.headers  # plain http base URL
        seen += 1
    assert seen > 30


def test_admin_pages_allow_no_inline_script_and_hsts_follows_https(engine_under_test: Engine, world: World) -> None:
    url = engine_under_test.url.render_as_string(hide_password=False)
    app = create_web_app(settings_for(url, base_url="https://muster.example"))
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/admin/login")
        docs = client.get("/docs")
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert "<script" not in page.text and "style=" not in page.text
    # /docs runs Swagger UI from Muster's own files: its policy allows no other origin
    assert docs.status_code == 200 and "'unsafe-inline'" in docs.headers["content-security-policy"]
    assert "https:" not in docs.headers["content-security-policy"] and "/docs/static/" in docs.text


def _free_port() -> int:
    for port in range(18400, 18500):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18400-18499")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_oauth_callback_is_logged_without_its_query_string(engine_under_test: Engine, world: World) -> None:
    url = engine_under_test.url.render_as_string(hide_password=False)
    app = create_web_app(settings_for(url))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    records = _Records()
    access = logging.getLogger("uvicorn.access")  # uvicorn configured it (no propagation): listen on it
    access.addHandler(records)
    try:
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            httpx.get(f"http://127.0.0.1:{port}/oauth/google/callback?code=4/SECRET-CODE&state=SECRET-STATE")
            httpx.get(f"http://127.0.0.1:{port}/admin/sessions?status=scheduled")
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        access.removeHandler(records)
    lines = records.lines
    assert any("/oauth/google/callback?[redacted]" in line for line in lines), lines
    assert not any("SECRET" in line for line in lines)
    assert any("/admin/sessions?status=scheduled" in line for line in lines)  # other queries stay


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_muster_creates_are_owner_only(tmp_path: Path) -> None:
    var = tmp_path / "state"
    settings = load_settings({"MUSTER_VAR_DIR": str(var)})  # first run: generates the development key
    assert _mode(var) == 0o700 and _mode(var / "secret.key") == 0o600
    db_file = Path(settings.database_url.removeprefix("sqlite:///"))
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        wal = db_file.with_name(db_file.name + "-wal")
        assert _mode(db_file) == 0o600
        if wal.exists():
            assert _mode(wal) == 0o600
    engine.dispose()
    # A database file left readable by others (an older version) is narrowed when Muster opens it
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    old.chmod(0o644)
    make_engine(f"sqlite:///{old}").dispose()
    assert _mode(old) == 0o600
