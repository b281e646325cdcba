"""The transactional outbox, through the REST API on SQLite and PostgreSQL: every committed change leaves
"session X needs a reconcile at revision N", a failed hand-over leaves it unsent for the relay, the relay
sends it and marks it sent, what is synced is pruned, and a rolled-back request leaves no row.

Where it sits: ``tests/api`` (the ``api`` fixture's recording dispatcher, or one that refuses like a
Redis that is down); the relay is :func:`engine.runtime.relay.relay_once` with a recording ``enqueue``.
End to end through workers and the emulator: ``tests/integration/sync/test_outbox_e2e.py``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
import redis
from sqlmodel import Session, select

from engine.runtime.relay import INTERVAL_S, relay_once
from engine.store import outbox
from engine.store.models import CalendarBinding, LiveSession, SyncRequest, SyncStatus
from engine.store.types import utcnow
from engine.store.unit_of_work import set_dispatcher
from tests.api.conftest import Api, session_body


@pytest.fixture(autouse=True)
def _no_other_relay() -> None:
    """Relays of task layers other tests left running idle once the process has no dispatcher (they check
    each round); these tests drive the relay themselves."""
    set_dispatcher(None)
    time.sleep(INTERVAL_S * 1.5)  # let a relay in the middle of a round see it


def _refusing(ids: list[uuid.UUID]) -> None:
    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


def _row(api: Api, external_id: str) -> tuple[LiveSession, SyncRequest | None]:
    with Session(api.engine) as db:
        session = db.exec(select(LiveSession).where(LiveSession.external_id == external_id)).one()
        return session, db.get(SyncRequest, session.id)


def test_each_committed_change_writes_its_revision_to_the_outbox(api: Api) -> None:
    assert api.put("/v1/sessions/o1", session_body()).status_code == 201
    session, row = _row(api, "o1")
    assert row is not None and row.revision == session.revision == 1
    assert row.sent_at is not None and row.sends == 1  # handed to the (recording) dispatcher after commit
    assert api.put("/v1/sessions/o1/enrollments/new@acme.example").status_code == 201
    session, row = _row(api, "o1")
    assert row is not None and row.revision == session.revision == 2
    # an identical PUT changes nothing and writes no request
    before = row.requested_at
    assert api.put("/v1/sessions/o1", session_body(enrollments=None)).status_code == 200
    assert _row(api, "o1")[1].requested_at == before  # type: ignore[union-attr]
    assert outbox.backlog(api.engine).unsent == 0


def test_a_refused_hand_over_is_left_to_the_relay_which_sends_it_once(api: Api) -> None:
    app = api.client.app
    app.state.muster = replace(app.state.muster, dispatcher=_refusing)
    assert api.put("/v1/sessions/o2", session_body()).status_code == 201
    session, row = _row(api, "o2")
    assert row is not None and row.sent_at is None and row.revision == session.revision
    backlog = outbox.backlog(api.engine)
    assert backlog.unsent == 1 and backlog.oldest_unsent_s is not None and backlog.oldest_unsent_s >= 0
    assert backlog.as_dict()["unsent"] == 1

    # While the broker is still down the relay stops at once and keeps the request
    def down(sid: str) -> bool:
        raise redis.ConnectionError("still down")

    assert relay_once(api.engine, down).failed is True
    assert _row(api, "o2")[1].sent_at is None  # type: ignore[union-attr]

    # The broker answers again: the relay sends the request and marks it sent; the next round sends nothing
    sent: list[str] = []
    result = relay_once(api.engine, lambda sid: sent.append(sid) or True)
    assert (result.sent, result.failed) == (1, False) and sent == [str(session.id)]
    assert _row(api, "o2")[1].sent_at is not None  # type: ignore[union-attr]
    assert relay_once(api.engine, lambda sid: sent.append(sid) or True).due == 0
    assert outbox.backlog(api.engine).unsent == 0


def test_a_broker_that_lost_its_data_gets_every_waiting_request_again_at_once(api: Api) -> None:
    assert api.put("/v1/sessions/o5", session_body()).status_code == 201
    session, row = _row(api, "o5")
    assert row is not None and row.sent_at is not None  # handed over just now: not due for RESEND_AFTER
    sent: list[str] = []
    assert relay_once(api.engine, lambda sid: sent.append(sid) or True, broker_lost=lambda: False).due == 0
    # Redis restarted empty: the message that request became is gone, so the relay sends it again now
    result = relay_once(api.engine, lambda sid: sent.append(sid) or True, broker_lost=lambda: True)
    assert (result.sent, sent) == (1, [str(session.id)])
    assert relay_once(api.engine, lambda sid: sent.append(sid) or True, broker_lost=lambda: False).due == 0

    def down() -> bool:
        raise redis.ConnectionError("Redis is still down")

    assert relay_once(api.engine, lambda sid: sent.append(sid) or True, broker_lost=down).failed is True


def test_the_broker_lost_check_answers_once_per_empty_start(redis_url: str) -> None:
    from engine.runtime.relay import MARKER, redis_lost_data

    client = redis.Redis.from_url(redis_url)
    namespace = f"muster-test-lost-{uuid.uuid4().hex[:6]}"
    lost = redis_lost_data(client, namespace)
    try:
        assert (lost(), lost()) == (True, False)
        client.delete(f"{namespace}:{MARKER}")  # what a restart without persistence (or a flush) does
        assert (lost(), lost()) == (True, False)
    finally:
        client.delete(f"{namespace}:{MARKER}")


def test_a_request_sent_long_ago_and_still_unsynced_is_sent_again_then_pruned_once_synced(api: Api) -> None:
    assert api.put("/v1/sessions/o3", session_body()).status_code == 201
    session, _ = _row(api, "o3")
    with Session(api.engine) as db:
        row = db.get(SyncRequest, session.id)
        assert row is not None
        row.sent_at = utcnow() - outbox.RESEND_AFTER - timedelta(seconds=1)  # its message was lost
        db.add(row)
        db.commit()
    sent: list[str] = []
    assert relay_once(api.engine, lambda sid: sent.append(sid) or True).sent == 1
    assert sent == [str(session.id)]
    # Once the binding shows the revision synced, the request is pruned; an unsent one never is
    with Session(api.engine) as db:
        db.add(
            CalendarBinding(
                tenant_id=api.tenant_a,
                session_id=session.id,
                sync_status=SyncStatus.SYNCED.value,
                synced_revision=session.revision,
            )
        )
        db.commit()
    app = api.client.app
    app.state.muster = replace(app.state.muster, dispatcher=_refusing)
    assert api.put("/v1/sessions/o4", session_body()).status_code == 201
    with Session(api.engine) as db, db.begin():
        assert outbox.prune(db=db) == 1
    assert _row(api, "o3")[1] is None
    assert _row(api, "o4")[1] is not None


def test_a_rolled_back_request_writes_no_outbox_row(api: Api) -> None:
    assert api.put("/v1/sessions/o5", session_body()).status_code == 201
    row = _row(api, "o5")[1]
    assert row is not None
    before = (row.revision, row.requested_at)
    # 201 learners on a session whose cap is 200: refused, nothing saved, the request unchanged
    body = {"enrollments": [{"email": f"x{i}@acme.example"} for i in range(201)]}
    assert api.client.put("/v1/sessions/o5/enrollments", json=body, headers=api.auth()).status_code == 422
    row = _row(api, "o5")[1]
    assert row is not None and (row.revision, row.requested_at) == before
