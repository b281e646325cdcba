"""Concurrent REST writes on PostgreSQL: the attendee cap holds, no revision is lost, new people never
conflict, contention is answered 409 (never 503), and a request needs one pooled connection.

Where it sits: ``tests/api``, through the real ASGI app (:class:`tests.api.conftest.AsgiClient`), many
requests at once from a thread pool. PostgreSQL only: these are its row locks and its deadlocks.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine, select

from engine.api.app import create_api
from engine.api.transaction import Busy, write
from engine.ingest.tenants import tenant_for_key
from engine.settings import load_settings
from engine.store.models import Enrollment, EnrollmentStatus, LiveSession, Person, SessionHost
from engine.store.types import utcnow
from engine.store.unit_of_work import UnitOfWork
from tests.api.conftest import Api, AsgiClient, session_body

pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


def _burst(n: int, call: Callable[[int], httpx.Response], threads: int = 32) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(call, range(n)))


def _session(api: Api, external_id: str) -> LiveSession:
    with Session(api.engine) as db:
        return db.exec(select(LiveSession).where(LiveSession.external_id == external_id)).one()


def _enrolled(api: Api, session_id: Any) -> int:
    with Session(api.engine) as db:
        return int(
            db.exec(
                select(func.count()).where(
                    Enrollment.session_id == session_id, Enrollment.status == EnrollmentStatus.ENROLLED.value
                )
            ).one()
        )


def test_250_concurrent_enrollments_fill_a_one_host_session_to_exactly_the_cap(api: Api) -> None:
    # Given a session with one host and nobody enrolled
    body = session_body(coHosts=[], enrollments=[], capacity=None)
    assert api.put("/v1/sessions/big", body).status_code == 201
    start = _session(api, "big")

    # When 250 learners enroll at once, one PUT each
    def enroll(i: int) -> httpx.Response:
        return api.client.put(f"/v1/sessions/big/enrollments/learner{i:03d}@acme.example", headers=api.auth())

    answers = _burst(250, enroll)

    # Then exactly 199 got in (199 + the host = 200), the other 51 were told why, and no revision was lost
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: 199, 422: 51}, codes
    for refused in (r for r in answers if r.status_code == 422):
        detail = refused.json()["detail"][0]
        assert detail["loc"] == ["path", "email"]
        assert "the limit is 200" in detail["msg"] and "would have 201 attendees" in detail["msg"]
    session = _session(api, "big")
    assert _enrolled(api, session.id) == 199
    assert session.revision == start.revision + 199
    got = api.get("/v1/sessions/big").json()
    assert got["enrolledCount"] == 199


def test_100_concurrent_changes_raise_the_revision_by_exactly_100(api: Api) -> None:
    assert api.put("/v1/sessions/rev", session_body(enrollments=[])).status_code == 201
    start = _session(api, "rev").revision

    def change(i: int) -> httpx.Response:
        if i % 2:  # enrollments and whole-session PUTs interleaved, each a real change
            return api.client.put(f"/v1/sessions/rev/enrollments/r{i}@acme.example", headers=api.auth())
        return api.client.patch(
            "/v1/sessions/rev/enrollments",
            json={"enrollments": [{"email": f"r{i}@acme.example", "status": "waitlisted"}]},
            headers=api.auth(),
        )

    answers = _burst(100, change)
    assert all(r.status_code in (200, 201) for r in answers), Counter(r.status_code for r in answers)
    assert _session(api, "rev").revision == start + 100


def test_concurrent_puts_creating_the_same_new_people_all_succeed(api: Api) -> None:
    # 24 sessions, each listing the same 40 new learners in a different order: before, people were
    # inserted in request order and these deadlocked (answered 503) or collided (answered 409).
    learners = [f"shared{i:02d}@acme.example" for i in range(40)]

    def put(i: int) -> httpx.Response:
        order = learners[:]
        random.Random(i).shuffle(order)
        body = session_body(enrollments=[{"email": e} for e in order[:30]], coHosts=[f"host{i % 3}@acme.example"])
        return api.client.put(f"/v1/sessions/s{i}", json=body, headers=api.auth())

    answers = _burst(24, put, threads=24)
    assert Counter(r.status_code for r in answers) == {201: 24}
    with Session(api.engine) as db:
        emails = db.exec(select(Person.email).where(Person.tenant_id == api.tenant_a)).all()
    assert len(emails) == len(set(emails))
    assert set(learners) <= set(emails)
    for i in range(24):  # every session holds all it listed, whoever created the people it shares
        session = _session(api, f"s{i}")
        assert _enrolled(api, session.id) == 30
        with Session(api.engine) as db:
            assert len(db.exec(select(SessionHost).where(SessionHost.session_id == session.id)).all()) == 2


def test_a_deadlock_is_retried_inside_the_request_then_answered_409_with_retry_after(api: Api) -> None:
    def deadlock() -> OperationalError:
        orig = type("DeadlockDetected", (Exception,), {"sqlstate": "40P01"})("deadlock detected")
        return OperationalError("UPDATE live_session ...", {}, orig)

    with Session(api.engine, expire_on_commit=False) as db:
        uow = UnitOfWork(db)
        runs: list[int] = []

        def flaky() -> str:
            runs.append(1)
            if len(runs) < 3:
                raise deadlock()
            return "done"

        assert write(uow, flaky) == "done"
        assert len(runs) == 3

        def always() -> str:
            raise deadlock()

        with pytest.raises(Busy):
            write(uow, always)

    # Through the API: a deadlock raised at every attempt of the write is a 409 with Retry-After
    from sqlalchemy import event

    def boom(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SYNC_OUTBOX"):  # every write that syncs
            raise deadlock()

    event.listen(api.engine, "before_cursor_execute", boom)
    try:
        resp = api.put("/v1/sessions/dl", session_body())
    finally:
        event.remove(api.engine, "before_cursor_execute", boom)
    assert resp.status_code == 409
    assert resp.headers["Retry-After"] == "1"
    assert "retry" in resp.json()["detail"] and "unavailable" not in resp.json()["detail"]
    assert api.get("/v1/sessions/dl").status_code == 404  # nothing was saved


def test_more_concurrent_requests_than_pool_connections_with_a_stale_key_stamp(
    api: Api, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A pool of 2 connections, 16 concurrent requests, and a key whose last use is stale: each request
    # records the use on its own connection (before, it took a second one and they all waited).
    small = create_engine(
        api.engine.url.render_as_string(hide_password=False), pool_size=2, max_overflow=0, pool_timeout=20
    )
    settings = load_settings(
        {
            "MUSTER_DATABASE_URL": api.engine.url.render_as_string(hide_password=False),
            "MUSTER_VAR_DIR": str(tmp_path),
            "MUSTER_SECRET_KEY": "k" * 40,
        }
    )
    client = AsgiClient(create_api(settings, dispatcher=api.dispatcher, engine=small))
    assert api.put("/v1/sessions/pool", session_body()).status_code == 201

    def stale() -> None:
        with Session(api.engine) as db:
            found = tenant_for_key(db=db, key=api.key_a)
            assert found is not None
            found[1].last_used_at = utcnow() - timedelta(hours=1)
            db.add(found[1])
            db.commit()

    stale()
    caplog.set_level(logging.WARNING, logger="engine.api.deps")

    def call(i: int) -> httpx.Response:
        if i % 2:
            return client.put(f"/v1/sessions/pool/enrollments/p{i}@acme.example", headers=api.auth())
        return client.get("/v1/sessions/pool", headers=api.auth())

    answers = _burst(16, call, threads=16)
    assert Counter(r.status_code for r in answers) == {200: 8, 201: 8}
    assert not [r for r in caplog.records if "could not record the use" in r.getMessage()]
    with Session(api.engine) as db:
        found = tenant_for_key(db=db, key=api.key_a)
        assert found is not None and found[1].last_used_at is not None
        assert found[1].last_used_at > utcnow() - timedelta(minutes=1)
    small.dispose()


def test_a_burst_on_one_event_loop_with_a_key_not_yet_checked_never_waits_for_the_pool(
    api: Api, tmp_path: Any
) -> None:
    # 60 concurrent requests in one event loop (more than its 40 worker threads), a pool of 2 connections and a
    # key this app has not checked yet: each reads its key in a transaction of its own, so no request holds a
    # connection while it waits for a thread (when they did, every thread waited for the pool until it timed out).
    small = create_engine(
        api.engine.url.render_as_string(hide_password=False), pool_size=2, max_overflow=0, pool_timeout=5
    )
    settings = load_settings(
        {
            "MUSTER_DATABASE_URL": api.engine.url.render_as_string(hide_password=False),
            "MUSTER_VAR_DIR": str(tmp_path),
            "MUSTER_SECRET_KEY": "k" * 40,
        }
    )
    assert api.put("/v1/sessions/loop", session_body(coHosts=[], enrollments=[])).status_code == 201
    app = create_api(settings, dispatcher=api.dispatcher, engine=small)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=api.auth(), timeout=60
        ) as client:
            answers = await asyncio.gather(
                *(client.put(f"/v1/sessions/loop/enrollments/b{i}@acme.example") for i in range(60))
            )
        return [a.status_code for a in answers]

    try:
        assert Counter(asyncio.run(burst())) == {201: 60}
    finally:
        small.dispose()
    assert _enrolled(api, _session(api, "loop").id) == 60


def test_a_burst_of_enrollments_to_one_session_on_one_event_loop_is_answered_without_503(api: Api) -> None:
    # 220 single-enrollment PUTs to a one-host session, 50 at a time in one event loop (the way an ASGI server
    # runs them): all wait for the session's row lock in turn, none times out waiting for a pooled connection.
    assert api.put("/v1/sessions/queue", session_body(coHosts=[], enrollments=[])).status_code == 201
    app = api.client.app

    async def burst() -> list[int]:
        gate = asyncio.Semaphore(50)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=api.auth(), timeout=120
        ) as client:

            async def one(i: int) -> int:
                async with gate:
                    return (await client.put(f"/v1/sessions/queue/enrollments/q{i:03d}@acme.example")).status_code

            return list(await asyncio.gather(*(one(i) for i in range(220))))

    assert Counter(asyncio.run(burst())) == {201: 199, 422: 21}
