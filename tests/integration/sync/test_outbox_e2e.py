"""End to end: a change whose enqueue failed still syncs within seconds, sent by the outbox relay of the
worker (PostgreSQL + Redis) or of the embedded runner (SQLite); and a sweep is never blocked by a stale
"reconcile scheduled" marker, counting only messages it really sent.

Where it sits: ``tests/integration/sync`` (both stacks; the stale-marker test needs Redis's markers). The
failed enqueue is an after-commit dispatcher that raises redis's ``ConnectionError``, as a Redis that is
down does; the workers keep their own broker connection, so only the hand-over is lost.
"""

from __future__ import annotations

import time
import uuid

import redis
from sqlmodel import Session

from engine.store.models import SyncRequest
from engine.store.unit_of_work import set_dispatcher
from engine.sync.sweep import sweep
from tests.integration.sync.conftest import NS, Stack, organizers, people, session_body


def _refusing(ids: list[uuid.UUID]) -> None:
    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def _tasks(stack: Stack):  # type: ignore[no-untyped-def]
    return stack.extra["tasks"] if "tasks" in stack.extra else stack.extra["embedded"].tasks


def test_a_change_whose_enqueue_failed_is_synced_by_the_relay(stack: Stack) -> None:
    hosts, learners = organizers()[:1], people("l", 3, start=10)
    set_dispatcher(_refusing)
    try:
        stack.put_session("s-outbox", session_body(hosts=hosts, enrolled=learners))
    finally:
        set_dispatcher(_tasks(stack).dispatch)
    sid = stack.session_id("s-outbox")
    with Session(stack.engine) as db:
        row = db.get(SyncRequest, sid)
        assert row is not None and row.sent_at is None  # committed with the change, not handed over
    started = time.monotonic()
    deadline = started + 20
    while not stack.emu.events_of(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    (event,) = stack.emu.events_of(sid)
    assert {a["email"] for a in event["attendees"]} == set(hosts) | set(learners)
    stack.idle()
    with Session(stack.engine) as db:
        row = db.get(SyncRequest, sid)
        assert row is None or row.sent_at is not None


def test_sweep_takes_over_a_stale_marker_and_counts_real_sends(postgres_stack: Stack) -> None:
    stack = postgres_stack
    stack.put_session("s-stale", session_body(hosts=organizers()[:1], enrolled=people("l", 2, start=20)))
    stack.idle()
    sid = stack.session_id("s-stale")
    tasks = _tasks(stack)
    client = redis.Redis.from_url(stack.extra["redis_url"])
    marker = f"{NS}:pending:{sid}"

    def sweep_now() -> tuple[int, int]:
        report = sweep(stack.engine, lambda s: tasks.enqueue(s, take_over_stale=True))
        return report.enqueued, report.coalesced

    # A marker left by a message that will never run (claimed an hour ago, 5 minutes to live)
    client.set(marker, repr(time.time() - 3600), px=300_000)
    assert sweep_now() == (1, 0)
    stack.idle()
    assert client.get(marker) is None  # the reconcile ran and cleared it
    # A fresh marker means a reconcile really is scheduled: merged, and not counted as sent
    client.set(marker, repr(time.time()), px=300_000)
    assert sweep_now() == (0, 1)
    client.delete(marker)


def test_a_marker_without_a_claim_time_counts_as_stale(postgres_stack: Stack) -> None:
    stack = postgres_stack
    stack.put_session("s-legacy", session_body(hosts=organizers()[:1], enrolled=[]))
    stack.idle()
    sid = stack.session_id("s-legacy")
    client = redis.Redis.from_url(stack.extra["redis_url"])
    client.set(f"{NS}:pending:{sid}", "1", px=300_000)  # as written before markers held their claim time
    assert _tasks(stack).enqueue(sid, take_over_stale=True) is True
    assert _tasks(stack).enqueue(sid) is False  # the new marker is fresh
    stack.idle()
