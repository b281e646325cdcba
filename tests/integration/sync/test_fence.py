"""The fenced lease: a binding write carrying an older fencing token is refused, on both stacks.

Where it sits: ``tests/integration/sync``. The scenario of a reconcile that loaded the binding before a
transfer rebound the session, then tries to record the departed organizer back.
"""

from __future__ import annotations

import logging

import pytest

from connectors.ports.calendar import Actor
from engine.runtime.wiring import build_runtime
from engine.store.unit_of_work import unit_of_work
from engine.sync import record
from engine.sync.fence import StaleFence, take_fence
from tests.integration.sync.conftest import OWNERS, Stack, organizers, people, session_body


def test_tokens_only_grow_and_a_stale_binding_write_is_refused(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    stack.put_session("s-fence", session_body(hosts=organizers()[:1], enrolled=people("l", 2)))
    stack.idle()
    sid = stack.session_id("s-fence")
    before = stack.binding(sid)
    assert before is not None and before.sync_status == "synced" and before.fence >= 1
    tokens = [take_fence(stack.engine, sid) for _ in range(3)]
    assert tokens == sorted(tokens) and len(set(tokens)) == 3 and tokens[0] > before.fence  # type: ignore[operator]
    # A reconcile starts (its token), then a transfer takes a newer token and rebinds the session.
    old = take_fence(stack.engine, sid)
    new = take_fence(stack.engine, sid)
    other = next(o for o in OWNERS if o != before.owner_email)
    with unit_of_work(stack.engine) as uow:
        record.do_rebind_owner(db=uow.db, tenant_id=stack.tenant_id, session_id=sid,
                               actor=Actor("vendor", other, stack.tenant_id), calendar_id=other,
                               event_id=before.event_id, new_event=False, room_released=False, fence=new)
    # The reconcile holding the older token must not record anything: it is refused and logged.
    runtime = build_runtime(stack.settings, engine=stack.engine)
    with caplog.at_level(logging.WARNING):
        result = runtime.reconciler.reconcile(sid, fence=old)
    assert result.outcome == "superseded"
    assert any("refused" in r.getMessage() and str(sid) in r.getMessage() for r in caplog.records)
    after = stack.binding(sid)
    assert after is not None
    assert (after.owner_email, after.calendar_id, after.fence) == (other, other, new)
    # A direct data write with the stale token is refused too, and rolls back.
    with pytest.raises(StaleFence), unit_of_work(stack.engine) as uow:
        record.do_record_error(db=uow.db, tenant_id=stack.tenant_id, session_id=sid, error=RuntimeError("x"),
                               error_class="retryable", fence=old)
    assert stack.binding(sid).last_error is None  # type: ignore[union-attr]


def test_no_token_for_an_unknown_session(stack: Stack) -> None:
    import uuid

    assert take_fence(stack.engine, uuid.uuid4()) is None
