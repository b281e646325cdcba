"""End to end through the change feed: a guest answers in Google, nobody tells Muster, the platform hears it.

Where it sits: ``tests/integration/sync``; the change feed's stack (:class:`FeedStack` of test_change_feed: SQLite,
embedded worker, the API served over HTTP so the emulator's push notifications reach ``POST /google/push``), a
real webhook receiver on 127.0.0.1. The guests answer through the emulator's guest-answer route (as a guest
does in Google: the organizer's event shows it, push fires); nothing in the test asks Muster to reconcile.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from engine.admin.tenant_setup import configure
from engine.store.models import Tenant
from engine.store.unit_of_work import unit_of_work
from tests.integration.sync.conftest import Emu, organizers, people, session_body
from tests.integration.sync.test_change_feed import FeedStack, _followed, wait_for
from tests.webhook_receiver import Receiver

SECRET = "feed-hook-secret-" + "3" * 24


@pytest.fixture
def pushed(emu: Emu, tmp_path: Path) -> Iterator[FeedStack]:
    stack = FeedStack(emu, tmp_path, MUSTER_PUSH_URL="{url}/google/push", MUSTER_FEED_POLL_S="600")
    yield stack
    stack.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET).start()
    yield r
    r.stop()


def _answer(stack: FeedStack, sid: uuid.UUID, email: str, status: str, comment: str | None = None) -> None:
    b = stack.binding(sid)
    body = {"email": email, "responseStatus": status, **({"comment": comment} if comment else {})}
    resp = httpx.post(f"{stack.emu.url}_emulator/calendars/{b.calendar_id}/events/{b.event_id}/responses", json=body)
    assert resp.status_code == 200, resp.text


def test_answers_and_a_decline_reach_the_platform_through_the_feed_alone(
    pushed: FeedStack, receiver: Receiver
) -> None:
    stack = pushed
    with unit_of_work(stack.engine) as uow:
        tenant = uow.db.exec(select(Tenant).where(Tenant.id == stack.tenant_id)).one()
        configure(uow, tenant, {"settings": {"webhooks": {"url": receiver.url, "events": [
            "enrollment.response_changed", "enrollment.cancelled_by_decline", "enrollment.promoted"]},
            "answers": {"on_decline": "cancel_and_promote"}}, "webhook_secret": SECRET},
            actor="test", secret_keys=stack.settings.all_secret_keys,
            allow_loopback_webhooks=stack.settings.webhooks_allow_loopback)
    learners = people("l", 4, start=120)
    enrolled, waiting = learners[:3], learners[3]
    body = session_body(hosts=organizers()[:1], enrolled=enrolled, waitlisted=[waiting])
    resp = stack.api.put("/v1/sessions/feed-answers", json=body, headers=stack.auth)
    assert resp.status_code == 201, resp.text
    sid = uuid.UUID(resp.json()["id"])
    wait_for(lambda: stack.synced(sid), 20, "first sync")
    cal = str(stack.binding(sid).calendar_id)
    stack.clock_pass()  # opens the calendar's push channel and takes its first token
    wait_for(lambda: (r := stack.feed_rows().get(cal)) is not None and r.channel_id is not None, 10, "channel")
    wait_for(_followed(stack, cal), 10, "first sync of the calendar")
    # When one learner accepts with a comment and another declines, in Google
    _answer(stack, sid, enrolled[0], "accepted", "looking forward")
    receiver.wait_for(lambda: receiver.events("enrollment.response_changed"), timeout_s=15)
    _answer(stack, sid, enrolled[1], "declined")
    receiver.wait_for(lambda: receiver.events("enrollment.promoted"), timeout_s=15)
    # Then the platform heard each, signed, and the waitlisted learner took the declined seat in Google
    answers = {e["data"]["email"]: e["data"] for e in receiver.events("enrollment.response_changed")}
    assert (answers[enrolled[0]]["response_status"], answers[enrolled[0]]["comment"]) == ("accepted", "looking forward")
    assert answers[enrolled[1]]["enrollment_status"] == "cancelled"
    [promoted] = receiver.events("enrollment.promoted")
    assert promoted["data"]["email"] == waiting and promoted["data"]["replaces_email"] == enrolled[1]
    assert receiver.bad_signatures == 0

    def guests() -> set[str]:
        b = stack.binding(sid)
        (event,) = [e for e in stack.emu.events(str(b.calendar_id)) if e["id"] == b.event_id]
        return {a["email"] for a in event.get("attendees") or []}

    wait_for(lambda: waiting in guests() and enrolled[1] not in guests(), 15, "the promoted learner invited")
    listed = {e["email"]: e for e in stack.api.get(
        "/v1/sessions/feed-answers/enrollments?includeCancelled=true", headers=stack.auth).json()}
    assert listed[enrolled[0]]["response"] == {**listed[enrolled[0]]["response"], "status": "accepted",
                                               "comment": "looking forward"}
    assert listed[enrolled[1]]["status"] == "cancelled" and listed[waiting]["status"] == "enrolled"
