"""Ingest REST API: commit/enqueue ordering, database failures, the last-resort handler, OpenAPI, health."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from engine.api.app import create_api
from engine.api.deps import LAST_USED_RESOLUTION, touch_last_used
from engine.api.key_cache import TTL_S
from engine.ingest.tenants import api_key_prefix, issue_api_key, tenant_for_key
from engine.store.models import ApiKey
from engine.store.unit_of_work import unit_of_work
from tests.api.conftest import Api, AsgiClient, session_body
from tests.api.test_sessions import row_counts


@contextmanager
def failing_commits(engine: Engine) -> Iterator[list[str]]:
    """Make every COMMIT on ``engine`` fail as a lost database connection would."""
    seen: list[str] = []

    def refuse(conn: Any) -> None:
        seen.append("commit")
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    event.listen(engine, "commit", refuse)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", refuse)


def test_commit_failure_enqueues_nothing_and_saves_nothing(api: Api) -> None:
    assert api.get("/v1/sessions").status_code == 200  # records the key's use now, not inside the failure
    before = row_counts(api)
    with failing_commits(api.engine) as seen:
        resp = api.put("/v1/sessions/sess-1", session_body())
    assert seen == ["commit"]  # the commit was attempted and failed
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert "nothing was saved" in resp.json()["detail"]
    assert api.dispatcher.calls == []
    assert row_counts(api) == before
    # the same request succeeds once the database is back, and only then is the session enqueued
    ok = api.put("/v1/sessions/sess-1", session_body())
    assert ok.status_code == 201
    assert [str(i) for i in api.dispatcher.ids] == [ok.json()["id"]]


def test_dispatch_happens_after_commit(api: Api) -> None:
    order: list[str] = []

    def note_commit(conn: Any) -> None:
        order.append("commit")

    event.listen(api.engine, "commit", note_commit)
    original = api.dispatcher.__call__

    def dispatch(ids: list[uuid.UUID]) -> None:
        order.append("dispatch")
        original(ids)

    try:
        api.client.app.state.muster = api.client.app.state.muster.__class__(
            settings=api.client.app.state.muster.settings,
            engine=api.engine,
            dispatcher=dispatch,
        )
        api.put("/v1/sessions/sess-1", session_body())
    finally:
        event.remove(api.engine, "commit", note_commit)
    assert order[-2:] == ["commit", "dispatch"]
    assert order.count("dispatch") == 1


def test_unexpected_error_is_json_500_without_traceback(api: Api) -> None:
    app = api.client.app

    @app.get("/v1/_boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    resp = api.client.get("/v1/_boom")
    assert resp.status_code == 500
    body = resp.json()
    assert body["detail"].startswith("internal error (incident ")
    assert "hunter2" not in resp.text and "Traceback" not in resp.text
    assert app.state.unhandled_errors == 1
    app.state.unhandled_errors = 0  # the fixture asserts no other request reached the handler


def test_openapi_document_builds(api: Api) -> None:
    resp = api.client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["info"]["title"] == "Muster ingest API"
    paths = doc["paths"]
    for path, method in (
        ("/v1/sessions/{external_id}", "put"),
        ("/v1/sessions/{external_id}", "delete"),
        ("/v1/sessions", "get"),
        ("/v1/sessions/{external_id}/cancel", "post"),
        ("/v1/sessions/{external_id}/enrollments", "put"),
        ("/v1/sessions/{external_id}/enrollments/{email}", "delete"),
        ("/healthz", "get"),
    ):
        assert method in paths[path], (path, method)
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    assert "timeZone" in doc["components"]["schemas"]["SessionCreate"]["properties"]
    assert api.client.get("/docs").status_code == 200


def test_healthz(api: Api) -> None:
    assert api.client.get("/healthz").json()["database"] == "ok"


def test_healthz_reports_unreachable_database(api: Api, tmp_path: Any) -> None:
    from sqlalchemy import create_engine

    settings = api.client.app.state.muster.settings
    broken = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    resp = AsgiClient(create_api(settings, engine=broken)).get("/healthz")
    assert resp.status_code == 503
    assert resp.json()["database"] == "unreachable"


def _last_used(api: Api, key: str) -> datetime | None:
    with Session(api.engine) as db:
        found = tenant_for_key(db=db, key=key)
        assert found is not None
        return found[1].last_used_at


def test_api_key_last_used_at_is_recorded_at_most_once_a_minute(api: Api) -> None:
    assert _last_used(api, api.key_a) is None
    writes: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEY"):
            writes.append(statement)

    event.listen(api.engine, "before_cursor_execute", note)
    try:
        before = datetime.now(UTC)
        assert api.get("/v1/sessions").status_code == 200  # a read records the use too
        first = _last_used(api, api.key_a)
        assert first is not None and before - timedelta(seconds=1) <= first <= datetime.now(UTC)
        assert first.tzinfo is not None
        for _ in range(3):
            assert api.put("/v1/sessions/sess-1", session_body()).status_code in (200, 201)
        assert _last_used(api, api.key_a) == first  # within the minute: not written again
        assert len(writes) == 1
        assert _last_used(api, api.key_b) is None  # another key is untouched
        assert api.get("/v1/sessions", key="mk_wrong").status_code == 401
    finally:
        event.remove(api.engine, "before_cursor_execute", note)
    # once the recorded use is over a minute old, the next request refreshes it
    with Session(api.engine) as db:
        found = tenant_for_key(db=db, key=api.key_a)
        assert found is not None
        found[1].last_used_at = first - LAST_USED_RESOLUTION - timedelta(seconds=1)
        db.add(found[1])
        db.commit()
    assert api.get("/v1/sessions").status_code == 200
    refreshed = _last_used(api, api.key_a)
    assert refreshed is not None and refreshed > first


def test_api_key_use_is_not_recorded_when_the_write_fails(api: Api) -> None:
    with Session(api.engine) as db:
        found = tenant_for_key(db=db, key=api.key_a)
        assert found is not None
        key = found[1]
    with Session(api.engine, expire_on_commit=False) as db:
        db.add(key)
        with failing_commits(api.engine):
            assert touch_last_used(db, key) is False  # logged and ignored, never raised
        assert touch_last_used(db, key) is True
        assert touch_last_used(db, key) is False  # recorded just now


def _revoke_outside_this_process(api: Api, key: str) -> None:
    """Revoke ``key`` with plain SQL, as another process (``muster tenant key --replace``) would: nothing
    in this process hears of it."""
    with api.engine.begin() as conn:
        conn.execute(
            sa.update(ApiKey).where(col(ApiKey.prefix) == api_key_prefix(key)).values(revoked_at=datetime.now(UTC))
        )


def test_a_checked_key_is_not_read_again_and_a_revocation_elsewhere_holds_within_the_cache_time(api: Api) -> None:
    now = [1000.0]
    cache = api.client.app.state.muster.keys
    cache.clock = lambda: now[0]
    reads: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM api_key" in statement:
            reads.append(statement)

    assert api.get("/v1/sessions").status_code == 200
    event.listen(api.engine, "before_cursor_execute", note)
    try:
        assert api.get("/v1/sessions").status_code == 200
        assert reads == []  # the key was checked a moment ago
        _revoke_outside_this_process(api, api.key_a)
        now[0] += TTL_S - 0.5
        assert api.get("/v1/sessions").status_code == 200  # still trusted: another process revoked it
        now[0] += 1.0
        answer = api.get("/v1/sessions")
        assert answer.status_code == 401 and "revoked" in answer.text, answer.text
        assert len(reads) == 1
        assert api.get("/v1/sessions").status_code == 401  # a refused key is never remembered
        assert len(reads) == 2
    finally:
        event.remove(api.engine, "before_cursor_execute", note)


def test_a_key_replaced_in_this_process_is_refused_at_once(api: Api) -> None:
    api.client.app.state.muster.keys.clock = lambda: 0.0  # the memory never expires by itself here
    assert api.get("/v1/sessions").status_code == 200
    with unit_of_work(api.engine) as uow:
        fresh = issue_api_key(db=uow.db, tenant_id=api.tenant_a, revoke_same_name=True)
    assert api.get("/v1/sessions").status_code == 401
    assert api.get("/v1/sessions", key=fresh).status_code == 200
