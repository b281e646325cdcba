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
from engine.sync.fence import Claim, StaleFence, take_fence
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


def test_a_claim_is_refused_once_anyone_wrote_a_newer_token(stack: Stack) -> None:
    """The token a reconcile claims at its first write: refused after a newer holder took a token, and
    for the second of two reconciles that read the same binding; later writes of the winner pass."""
    stack.put_session("s-claim", session_body(hosts=organizers()[:1], enrolled=people("c", 2)))
    stack.idle()
    sid = stack.session_id("s-claim")
    binding = stack.binding(sid)
    assert binding is not None
    read = binding.fence

    def record_error(fence: Claim | int) -> None:
        with unit_of_work(stack.engine) as uow:
            record.do_record_error(db=uow.db, tenant_id=stack.tenant_id, session_id=sid,
                                   error=RuntimeError("x"), error_class="retryable", fence=fence)

    # two reconciles read the same token; the first to write claims the next one, the second is refused
    first, second = Claim(sid, read), Claim(sid, read)
    record_error(first)
    assert first.claimed and stack.binding(sid).fence == read + 1  # type: ignore[union-attr]
    with pytest.raises(StaleFence):
        record_error(second)
    assert not second.claimed
    record_error(first)  # the holder's own later write passes
    # a transfer takes a token: the claim read before it is refused too
    newer = take_fence(stack.engine, sid)
    assert newer == read + 2
    with pytest.raises(StaleFence):
        record_error(first)
    with pytest.raises(StaleFence):
        record_error(Claim(sid, read + 1))
    record_error(Claim(sid, read + 2))
    assert stack.binding(sid).fence == read + 3  # type: ignore[union-attr]
