"""End to end: answers read back from Google, the decline policy, and outbound webhooks to a real receiver.

Where it sits: ``tests/integration/sync``; REST API → workers → emulator → Muster's webhooks → a real HTTP
receiver on 127.0.0.1 (``tests/webhook_receiver.py``), which verifies each signature with the recipe of
docs/webhooks.md and drops repeats by the idempotency key. Settings are saved through the admin REST API
(``PATCH /v1/admin/tenant``), so each test is also the round trip "save, then the engine uses it".
A guest's answer is given on the organizer's event in the emulator; the session is then reconciled (as
the change feed does), which reads the event and records the answers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from sqlmodel import Session, select

from engine.admin.people import add_person, issue_admin_token
from engine.store.models import AuditEvent, CalendarBinding, Enrollment, Person, Tenant, WebhookDelivery
from engine.store.types import utcnow
from engine.store.unit_of_work import unit_of_work
from tests.integration.sync.conftest import Stack, organizers, people, session_body
from tests.webhook_receiver import Receiver

SECRET = "whsec-" + "7f3a9c" * 8


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET).start()
    try:
        yield r
    finally:
        r.stop()


def _admin(stack: Stack) -> dict[str, str]:
    if "admin" in stack.extra:
        return dict(stack.extra["admin"])
    with unit_of_work(stack.engine) as uow:
        tenant = uow.db.get(Tenant, stack.tenant_id)
        assert tenant is not None
        add_person(db=uow.db, tenant=tenant, email="it-admin@acme.example", role="admin", actor="test")
        token = issue_admin_token(db=uow.db, tenant=tenant, email="it-admin@acme.example", actor="test")
    stack.extra["admin"] = {"Authorization": f"Bearer {token}"}
    return dict(stack.extra["admin"])


def _configure(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    resp = stack.api.patch("/v1/admin/tenant", json=body, headers=_admin(stack))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _reconcile(stack: Stack, session_id: uuid.UUID) -> None:
    """What the change feed does once Google reports the event changed: mark the binding changed in Google
    (so the reconcile reads the event) and ask for a background reconcile."""
    with unit_of_work(stack.engine) as uow:
        binding = uow.db.exec(select(CalendarBinding).where(CalendarBinding.session_id == session_id)).one()
        binding.remote_changed_at = utcnow()
        uow.db.add(binding)
    tasks = stack.extra["embedded"].tasks if "embedded" in stack.extra else stack.extra["tasks"]
    tasks.enqueue(session_id, coalesce=False, background=True)


def _answer(stack: Stack, session_id: uuid.UUID, email: str, status: str, comment: str | None = None) -> None:
    binding = stack.binding(session_id)
    assert binding is not None and binding.calendar_id and binding.event_id
    assert stack.emu.world.set_attendee_response(binding.calendar_id, binding.event_id, email, status, comment)


def _enrollments(stack: Stack, external_id: str) -> dict[str, dict[str, Any]]:
    resp = stack.request("GET", f"/v1/sessions/{external_id}/enrollments?includeCancelled=true")
    assert resp.status_code == 200, resp.text
    return {e["email"]: e for e in resp.json()}


def test_a_receiver_that_fails_for_a_while_gets_every_event_once_signed_and_in_backoff(
    stack: Stack, receiver: Receiver
) -> None:
    # Given webhooks set through the admin REST API, and a receiver whose first 4 answers are lost
    shown = _configure(stack, {"settings": {"webhooks": {"url": receiver.url}}, "webhookSecret": SECRET})
    assert shown["webhookSecretSet"] is True and shown["settings"]["webhooks"]["url"] == receiver.url
    assert SECRET not in str(shown)
    receiver.fail_first = 4
    hosts, learners = organizers()[:1], people("l", 2)
    stack.put_session("s-hook", session_body(hosts=hosts, enrolled=learners))
    stack.idle()
    sid = stack.session_id("s-hook")
    # When a learner accepts with a comment and the session is reconciled
    _answer(stack, sid, learners[0], "accepted", "see you there")
    _reconcile(stack, sid)
    # Then the receiver processed the first sync's status and the answer, once each, after retries
    receiver.wait_for(lambda: receiver.events("enrollment.response_changed"), timeout_s=45)
    [status] = receiver.events("session.sync_status_changed")
    assert status["data"]["sync_status"] == "synced" and status["data"]["previous_sync_status"] == "pending"
    assert status["data"]["session_external_id"] == "s-hook" and status["tenant"] == "acme"
    [answer] = receiver.events("enrollment.response_changed")
    assert answer["data"] == {
        "session_external_id": "s-hook", "session_id": str(sid), "email": learners[0], "role": "learner",
        "response_status": "accepted", "previous_response_status": "needsAction", "comment": "see you there",
        "enrollment_status": "enrolled",
    }
    assert receiver.bad_signatures == 0
    # every request of one id carried the same body; the repeats (answers lost) were dropped by the key
    by_id: dict[str, list[Any]] = {}
    for r in receiver.requests:
        by_id.setdefault(r.id, []).append(r)
    assert set(by_id) == set(receiver.processed)
    assert all(len({r.body for r in rs}) == 1 and rs[0].json["id"] == key for key, rs in by_id.items())
    assert receiver.duplicates == 4 and len(receiver.requests) == len(by_id) + 4
    # the first event was retried with growing waits: each at least its backoff (300 ms doubling up to 2 s,
    # jittered 0.8-1.2), the last far longer than the first
    first = max(by_id.values(), key=len)
    gaps = [b.at - a.at for a, b in pairwise(first)]
    assert len(gaps) == 4, gaps
    assert all(gap >= 0.8 * min(2.0, 0.3 * 2**i) for i, gap in enumerate(gaps)), gaps
    assert gaps[-1] > 2 * gaps[0], gaps
    # and the durable log says so: delivered, with the attempts it took
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with Session(stack.engine) as db:
            rows = db.exec(select(WebhookDelivery)).all()
        if rows and all(r.status == "delivered" for r in rows):
            break
        time.sleep(0.1)
    assert {str(r.id) for r in rows} == set(receiver.processed)
    assert all(r.status == "delivered" for r in rows) and sum(r.attempts for r in rows) == len(receiver.requests)
    # and the answer is visible through REST: the enrollment and the session's detail
    listed = _enrollments(stack, "s-hook")
    assert listed[learners[0]]["response"]["status"] == "accepted"
    assert listed[learners[0]]["response"]["comment"] == "see you there"
    assert listed[learners[1]]["response"]["status"] == "needsAction"
    detail = stack.request("GET", "/v1/sessions/s-hook").json()
    assert detail["answers"] == {"accepted": 1, "tentative": 0, "declined": 0, "needsAction": 1, "notSeen": 0}
    # the delivery log in the admin REST API, and a replay: same id again, which the receiver drops
    log = stack.api.get("/v1/admin/webhooks/deliveries", headers=_admin(stack)).json()
    assert {d["id"] for d in log} == set(receiver.processed) and {d["status"] for d in log} == {"delivered"}
    assert any(d["attempts"] > 1 and d["lastStatusCode"] == 200 for d in log)
    replayed = stack.api.post(f"/v1/admin/webhooks/deliveries/{answer['id']}/replay", headers=_admin(stack))
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    receiver.wait_for(lambda: receiver.duplicates == 5, timeout_s=15)
    assert len(receiver.processed) == len(by_id)
    missing = stack.api.post(f"/v1/admin/webhooks/deliveries/{uuid.uuid4()}/replay", headers=_admin(stack))
    assert missing.status_code == 404 and "GET /v1/admin/webhooks/deliveries" in missing.text


def test_decline_report_only_keeps_the_learner_and_tells_the_platform(stack: Stack, receiver: Receiver) -> None:
    _configure(
        stack,
        {"settings": {"answers": {"on_decline": "report_only"}, "webhooks": {"url": receiver.url}},
         "webhookSecret": SECRET},
    )
    hosts, learners = organizers()[:1], people("l", 3)
    stack.put_session("s-ro", session_body(hosts=hosts, enrolled=learners[:2], waitlisted=learners[2:]))
    stack.idle()
    sid = stack.session_id("s-ro")
    _answer(stack, sid, learners[0], "declined", "cannot make it")
    _answer(stack, sid, hosts[0], "tentative")
    _reconcile(stack, sid)
    receiver.wait_for(lambda: len(receiver.events("enrollment.response_changed")) == 2)
    stack.idle()
    listed = _enrollments(stack, "s-ro")
    assert listed[learners[0]]["status"] == "enrolled" and listed[learners[0]]["response"]["status"] == "declined"
    assert listed[learners[2]]["status"] == "waitlisted"
    [event] = stack.emu.events_of(sid)
    assert {a["email"] for a in event["attendees"]} == {*hosts, *learners[:2]}
    roles = {e["data"]["email"]: e["data"] for e in receiver.events("enrollment.response_changed")}
    assert roles[learners[0]]["enrollment_status"] == "enrolled" and roles[hosts[0]]["role"] == "host"
    assert not receiver.events("enrollment.promoted") and not receiver.events("enrollment.cancelled_by_decline")
    detail = stack.request("GET", "/v1/sessions/s-ro").json()
    assert detail["hosts"][0]["response"]["status"] == "tentative"


def test_decline_cancel_and_promote_invites_the_next_waitlisted_learner(stack: Stack, receiver: Receiver) -> None:
    _configure(
        stack,
        {"settings": {"answers": {"on_decline": "cancel_and_promote"}, "webhooks": {"url": receiver.url}},
         "webhookSecret": SECRET},
    )
    hosts, learners = organizers()[:1], people("l", 4)
    enrolled, waitlisted = learners[:2], learners[2:]
    # the waitlist's order is when each joined: waitlisted[1] first, then waitlisted[0]
    stack.put_session("s-cp", session_body(hosts=hosts, enrolled=enrolled, waitlisted=waitlisted[1:]))
    stack.put_session("s-cp", session_body(hosts=hosts, enrolled=enrolled, waitlisted=waitlisted[1:] + waitlisted[:1]))
    stack.idle()
    sid = stack.session_id("s-cp")
    _answer(stack, sid, enrolled[0], "declined", "sorry")
    _reconcile(stack, sid)
    receiver.wait_for(lambda: receiver.events("enrollment.promoted"))
    stack.idle()
    # the declined learner is cancelled and off the event; the first waitlisted one is enrolled and invited
    listed = _enrollments(stack, "s-cp")
    assert listed[enrolled[0]]["status"] == "cancelled" and listed[enrolled[0]]["response"]["status"] == "declined"
    assert listed[waitlisted[1]]["status"] == "enrolled" and listed[waitlisted[0]]["status"] == "waitlisted"
    [event] = stack.emu.events_of(sid)
    assert {a["email"] for a in event["attendees"]} == {*hosts, enrolled[1], waitlisted[1]}
    # told to the platform, and audited
    [cancelled] = receiver.events("enrollment.cancelled_by_decline")
    assert cancelled["data"]["email"] == enrolled[0] and cancelled["data"]["promoted_email"] == waitlisted[1]
    assert cancelled["data"]["comment"] == "sorry"
    [promoted] = receiver.events("enrollment.promoted")
    assert promoted["data"]["email"] == waitlisted[1] and promoted["data"]["replaces_email"] == enrolled[0]
    [answer] = receiver.events("enrollment.response_changed")
    assert answer["data"]["enrollment_status"] == "cancelled"
    with Session(stack.engine) as db:
        actions = {a.action: a for a in db.exec(select(AuditEvent).where(AuditEvent.session_id == sid)).all()}
        assert actions["enrollment.cancelled_by_decline"].subject == enrolled[0]
        assert actions["enrollment.promoted"].detail == {"replaces": enrolled[0]}
        # a second look at the same answers changes nothing (level-triggered)
        before = db.exec(select(Enrollment, Person).where(Enrollment.person_id == Person.id)).all()
        snapshot = {p.email: (e.status, e.response_status) for e, p in before}
    _reconcile(stack, sid)
    stack.idle()
    time.sleep(0.5)
    with Session(stack.engine) as db:
        after = db.exec(select(Enrollment, Person).where(Enrollment.person_id == Person.id)).all()
        assert {p.email: (e.status, e.response_status) for e, p in after} == snapshot
    assert len(receiver.events("enrollment.promoted")) == 1


def test_changes_made_in_google_are_told_to_the_platform(stack: Stack, receiver: Receiver) -> None:
    from tests.integration.sync.test_e2e_two_way import _google

    _configure(stack, {"settings": {"webhooks": {"url": receiver.url}, "google_changes": {"deleted": "flag"}},
                       "webhookSecret": SECRET})
    hosts, learners = organizers()[:1], people("l", 2, start=60)
    stack.put_session("s-gc", session_body(hosts=hosts, enrolled=learners))
    stack.idle()
    sid = stack.session_id("s-gc")
    (event,) = stack.emu.events_of(sid)
    owner = event["organizer"]["email"]
    # When the organizer moves the event in Google (the platform wins by default), then deletes it (flag)
    _google(stack, owner).patch(
        calendarId=owner, eventId=event["id"], sendUpdates="none",
        body={"start": {"dateTime": "2027-02-01T18:00:00+01:00", "timeZone": "Europe/Berlin"},
              "end": {"dateTime": "2027-02-01T19:00:00+01:00", "timeZone": "Europe/Berlin"}},
    ).execute()
    _reconcile(stack, sid)
    receiver.wait_for(lambda: receiver.events("session.changed_in_google"))
    stack.idle()
    _google(stack, owner).delete(calendarId=owner, eventId=event["id"], sendUpdates="none").execute()
    _reconcile(stack, sid)
    receiver.wait_for(lambda: len(receiver.events("session.changed_in_google")) == 2)
    # Then the platform heard both, in the policy's words, and that the session is now blocked
    moved, deleted = sorted((e["data"] for e in receiver.events("session.changed_in_google")),
                            key=lambda d: d["deleted"])
    assert (moved["fields"], moved["policy"], moved["action"], moved["deleted"]) == (
        ["time"], "platform_wins", "restored", False)
    assert (deleted["policy"], deleted["action"], deleted["deleted"]) == ("flag", "flagged", True)
    assert moved["event_id"] == deleted["event_id"] == event["id"] and moved["calendar_id"] == owner
    receiver.wait_for(lambda: any(e["data"]["sync_status"] == "blocked"
                                  for e in receiver.events("session.sync_status_changed")))
    blocked = next(e["data"] for e in receiver.events("session.sync_status_changed")
                   if e["data"]["sync_status"] == "blocked")
    assert blocked["previous_sync_status"] == "synced" and "deleted_in_google" in (blocked["last_error"] or "")
