"""A REST write while Redis is down: the commit stands, the answer is 201, the log has one warning line,
and the periodic sweep picks the session up.

Where it sits: API tests (``tests/api/conftest.py`` fixtures; SQLite and PostgreSQL). The after-commit
dispatcher is either one that raises redis's ``ConnectionError`` or the real task layer
(:class:`engine.runtime.actors.Tasks`) on a Redis URL whose port nothing listens on.
"""

from __future__ import annotations

import logging
import socket
import uuid
from dataclasses import replace

import pytest
import redis
from sqlmodel import Session, select

from engine.runtime.actors import bind
from engine.runtime.broker import build_broker
from engine.runtime.wiring import build_runtime
from engine.store.models import CalendarBinding, LiveSession, SyncStatus
from engine.sync.sweep import sweep
from tests.api.conftest import Api, session_body


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _refusing_dispatcher(ids: list[uuid.UUID]) -> None:
    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


def _session_id(api: Api, external_id: str) -> uuid.UUID:
    with Session(api.engine) as db:
        row = db.exec(select(LiveSession).where(LiveSession.external_id == external_id)).one()
        return row.id


def _swept(api: Api) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    sweep(api.engine, seen.append)
    return seen


def _assert_one_warning(caplog: pytest.LogCaptureFixture, session_id: uuid.UUID) -> None:
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    message = record.getMessage()
    assert record.levelno == logging.WARNING
    assert str(session_id) in message and "periodic sweep will pick them up" in message
    assert "ConnectionError" in message and "Connection refused" in message
    assert "\n" not in message and record.exc_info is None and record.exc_text is None
    assert "Traceback" not in caplog.text


def test_dispatcher_raising_connection_error_keeps_the_201(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    app = api.client.app
    app.state.muster = replace(app.state.muster, dispatcher=_refusing_dispatcher)
    caplog.set_level(logging.INFO)
    resp = api.put("/v1/sessions/redis-down", session_body())
    assert resp.status_code == 201, resp.text
    assert resp.json()["externalId"] == "redis-down"
    session_id = _session_id(api, "redis-down")
    _assert_one_warning(caplog, session_id)
    # read back through the API: nothing was rolled back
    assert api.get("/v1/sessions/redis-down").json()["title"] == "Intro to SQL"
    # no binding yet: the sweep picks it up
    assert session_id in _swept(api)
    # nor is it skipped once a pending binding exists (an earlier reconcile started, then Redis went away)
    with Session(api.engine) as db:
        db.add(CalendarBinding(tenant_id=api.tenant_a, session_id=session_id, sync_status=SyncStatus.PENDING.value))
        db.commit()
    assert session_id in _swept(api)


def test_task_layer_on_unreachable_redis_logs_one_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    app = api.client.app
    settings = replace(app.state.muster.settings, redis_url=f"redis://127.0.0.1:{_unused_port()}/0")
    tasks = bind(build_broker(settings), build_runtime(settings, engine=api.engine, timeout_s=2.0))
    app.state.muster = replace(app.state.muster, dispatcher=tasks.dispatch)
    caplog.set_level(logging.INFO)
    resp = api.put("/v1/sessions/redis-down-2", session_body())
    assert resp.status_code == 201, resp.text
    session_id = _session_id(api, "redis-down-2")
    _assert_one_warning(caplog, session_id)
    assert session_id in _swept(api)
