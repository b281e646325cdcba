"""``/livez`` and ``/readyz``; an unmigrated database answers "run `muster db upgrade`", not "retry".

Where it sits: :mod:`engine.api.routes.health`, :mod:`engine.runtime.probes` and the 503 mapping in
:mod:`engine.api.errors`, through the real ASGI app, on fresh SQLite and PostgreSQL databases (the shared test
databases are built from the models without a migration revision, so each test makes its own).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from engine import version
from engine.api.app import create_api
from engine.crypto import API_KEY_PREFIX_LEN
from engine.settings import load_settings
from engine.store.migrations import head_revision, upgrade_head
from engine.store.unit_of_work import make_engine
from tests.api.conftest import AsgiClient, session_body
from tests.conftest import throwaway_postgres_database


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) on each stack."""
    with ExitStack() as stack:
        if request.param == "postgres":
            yield stack.enter_context(throwaway_postgres_database())
        else:
            yield f"sqlite:///{tmp_path / 'fresh.db'}"


def _client(url: str, tmp_path: Path, redis_url: str | None = None) -> AsgiClient:
    env = {"MUSTER_DATABASE_URL": url, "MUSTER_VAR_DIR": str(tmp_path), "MUSTER_SECRET_KEY": "k" * 40}
    if redis_url:
        env["MUSTER_REDIS_URL"] = redis_url
    settings = load_settings(env)
    return AsgiClient(create_api(settings, dispatcher=lambda ids: None, engine=make_engine(settings.database_url)))


def test_livez_answers_with_the_version(fresh_url: str, tmp_path: Path) -> None:
    resp = _client(fresh_url, tmp_path).get("/livez")
    assert resp.status_code == 200 and resp.json() == {"status": "ok", "version": version()}


def test_readyz_fails_on_an_unmigrated_database_and_passes_once_upgraded(fresh_url: str, tmp_path: Path) -> None:
    client = _client(fresh_url, tmp_path)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    db = resp.json()["checks"]["database"]
    assert db["state"] == "not_migrated" and "run `muster db upgrade`" in db["detail"]

    # the REST API says the same instead of "retry in a few seconds"
    key = f"mk_{'a' * API_KEY_PREFIX_LEN}_secret"
    put = client.put("/v1/sessions/s-1", json=session_body(), headers={"Authorization": f"Bearer {key}"})
    assert put.status_code == 503, put.text
    assert "run `muster db upgrade`" in put.json()["detail"] and "Retry-After" not in put.headers

    upgrade_head(load_settings({"MUSTER_DATABASE_URL": fresh_url, "MUSTER_SECRET_KEY": "k" * 40,
                                "MUSTER_VAR_DIR": str(tmp_path)}))
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ready" and body["version"] == version()
    assert body["checks"]["database"] == {"ok": True, "state": "ok", "detail": f"schema at {head_revision()}"}
    assert body["checks"]["broker"]["state"] == "embedded"


def test_readyz_fails_while_the_database_is_down(tmp_path: Path) -> None:
    settings = load_settings({"MUSTER_DATABASE_URL": "sqlite:///x.db", "MUSTER_VAR_DIR": str(tmp_path)})
    broken = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{_unused_port()}/none")
    resp = AsgiClient(create_api(settings, dispatcher=lambda ids: None, engine=broken)).get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["checks"]["database"]["state"] == "unreachable"


@pytest.mark.redis
def test_readyz_follows_the_broker(tmp_path: Path, redis_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'ready.db'}"
    upgrade_head(load_settings({"MUSTER_DATABASE_URL": url, "MUSTER_VAR_DIR": str(tmp_path)}))
    up = _client(url, tmp_path, redis_url).get("/readyz")
    assert up.status_code == 200, up.text
    assert up.json()["checks"]["broker"] == {"ok": True, "state": "ok"}
    down_url = f"redis://:pw-secret@127.0.0.1:{_unused_port()}/0"
    down = _client(url, tmp_path, down_url).get("/readyz")
    assert down.status_code == 503
    broker = down.json()["checks"]["broker"]
    assert broker["state"] == "unreachable" and "pw-secret" not in down.text and ":***@" in broker["detail"]


def test_readyz_stays_ready_on_a_database_migrated_by_a_newer_release(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'newer.db'}"
    upgrade_head(load_settings({"MUSTER_DATABASE_URL": url, "MUSTER_VAR_DIR": str(tmp_path)}))
    engine = make_engine(url)
    with engine.begin() as conn:  # what a newer release's `muster db upgrade` leaves behind
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    resp = _client(url, tmp_path).get("/readyz")
    assert resp.status_code == 200, resp.text
    assert "newer than this build" in resp.json()["checks"]["database"]["detail"]
