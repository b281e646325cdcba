"""The three transfer paths end to end: REST API → reconciler → emulator → lifecycle → emulator."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from engine.crypto import encrypt
from engine.store.models import WebhookDelivery
from tests.integration.lifecycle.conftest import FALLBACK, LEARNERS, ROOM, Life

RADIA, GRACE, KEN, LINUS = ("radia.backus10@acme.example", "grace.lamport2@acme.example",
                            "ken.allen5@acme.example", "linus.goldberg3@acme.example")


def _attendees(event: dict[str, object]) -> set[str]:
    return {str(a["email"]) for a in event.get("attendees") or []}  # type: ignore[attr-defined]


def test_planned_departure_moves_event_keeping_id_link_and_room(life: Life) -> None:
    for who in (RADIA, GRACE):
        life.connect(who)
    # the platform wants to hear about transfers (engine.webhooks)
    life.set_tenant(settings={"webhooks": {"url": "https://platform.example/hooks",
                                           "events": ["organizer.transferred"]}},
                    webhook_secret_encrypted=encrypt(life.settings.secret_key, "x" * 32))
    sid = life.put_session("s-move", hosts=[RADIA, GRACE])
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    assert before.owner_email == RADIA and before.meet_link and before.room_email == ROOM
    old = life.event(RADIA, before.event_id or "")
    assert old is not None and ROOM in _attendees(old)
    mail_mark = len(life.emu.outbox())

    resp = life.request("PUT", f"/v1/people/{RADIA}/departure", {})
    assert resp.status_code == 200 and resp.json()["transferDue"] is True
    report = life.sweep()
    [person] = report.transfers
    assert [(s.outcome, s.path, s.successor) for s in person.sessions] == [("transferred", "move", GRACE)]

    after = life.binding(sid)
    assert (after.owner_email, after.calendar_id, after.event_id) == (GRACE, GRACE, before.event_id)
    assert after.meet_link == before.meet_link and after.room_email == ROOM
    moved = life.event(GRACE, before.event_id or "")
    assert moved is not None and moved["status"] == "confirmed"
    assert moved["organizer"]["email"] == GRACE
    assert moved["conferenceData"]["entryPoints"][0]["uri"] == before.meet_link
    assert set(LEARNERS) | {ROOM} <= _attendees(moved)
    left = life.event(RADIA, before.event_id or "")
    assert left is None or left["status"] == "cancelled"
    # The next reconcile sees no drift and writes nothing.
    again = life.reconciler.reconcile(sid)
    assert again.writes == 0 and again.outcome == "success", again
    assert all(n <= 1 for n in life.learner_mail(mail_mark).values())
    [audit] = life.audit("lifecycle.transferred")
    assert audit.detail["path"] == "move" and "Meet link" in audit.detail["kept"]
    assert audit.detail["eventIdBefore"] == audit.detail["eventIdAfter"] == before.event_id
    with Session(life.engine) as db:
        [told] = db.exec(select(WebhookDelivery)).all()
    assert told.event_type == "organizer.transferred" and told.session_id == sid
    assert told.payload["data"]["from_email"] == RADIA and told.payload["data"]["to_email"] == GRACE
    assert told.payload["data"]["calendar_id"] == GRACE and "move" in told.payload["data"]["reason"]
    # The calendar share used for the move is gone again.
    assert RADIA not in life.emu.world.calendars[GRACE].acl
    assert life.sweep().transfers == []  # nothing left to do


def test_sudden_suspension_goes_through_data_transfer_and_adoption(life: Life) -> None:
    for who in (KEN, LINUS):
        life.connect(who)
    sid = life.put_session("s-dt", hosts=[KEN, LINUS])
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    assert before.owner_email == KEN and before.meet_link
    mail_mark = len(life.emu.outbox())

    life.emu.control("POST", f"users/{KEN}/suspend", {"reason": "ADMIN"})
    report = life.sweep()
    assert report.scans["acme"].suspended == [KEN]
    [person] = report.transfers
    assert [(s.outcome, s.path, s.successor) for s in person.sessions] == [("transferred", "data_transfer",
                                                                            LINUS)]
    after = life.binding(sid)
    assert (after.owner_email, after.event_id, after.meet_link) == (LINUS, before.event_id, before.meet_link)
    adopted = life.event(LINUS, before.event_id or "")
    assert adopted is not None and adopted["organizer"]["email"] == LINUS and ROOM in _attendees(adopted)
    again = life.reconciler.reconcile(sid)
    assert again.writes == 0 and again.outcome == "success", again
    assert all(n <= 1 for n in life.learner_mail(mail_mark).values())
    [audit] = life.audit("lifecycle.transferred")
    assert audit.detail["path"] == "data_transfer" and "room booking" in audit.detail["kept"]


def test_released_room_is_booked_again_after_data_transfer(life: Life) -> None:
    life.set_tenant(settings={"lifecycle": {"releaseResources": True}})
    for who in (KEN, LINUS):
        life.connect(who)
    sid = life.put_session("s-release", hosts=[KEN, LINUS])
    assert life.settle(sid).outcome == "success"
    event_id = life.binding(sid).event_id or ""
    life.emu.control("POST", f"users/{KEN}/suspend", {})
    life.sweep()
    adopted = life.event(LINUS, event_id)
    assert adopted is not None and ROOM in _attendees(adopted), "the released room was not booked again"
    life.settle(sid)
    assert life.reconciler.reconcile(sid).writes == 0
    [audit] = life.audit("lifecycle.transferred")
    assert "room released by Google and booked again" in audit.detail["changed"]


def test_no_connected_successor_waits_then_completes_when_fallback_connects(life: Life) -> None:
    life.connect(RADIA)
    sid = life.put_session("s-alone", hosts=[RADIA], room=False)
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200

    report = life.sweep()
    [person] = report.transfers
    assert [(s.outcome, s.successor) for s in person.sessions] == [("blocked", None)]
    held = life.binding(sid)
    assert held.owner_email == RADIA and held.event_id == before.event_id  # nothing lost
    assert held.transfer_note and f"connect Google for the fallback owner {FALLBACK}" in held.transfer_note
    [alert] = life.audit("lifecycle.transfer_blocked")
    assert FALLBACK in alert.detail["needed"]
    shown = life.request("GET", "/v1/sessions/s-alone").json()["sync"]
    assert shown["transferNote"] == held.transfer_note and shown["ownerEmail"] == RADIA
    spof = life.request("GET", "/v1/reports/spof").json()
    assert [r["outcome"] for r in spof["sessions"]] == ["blocked"]
    life.sweep()
    assert len(life.audit("lifecycle.transfer_blocked")) == 1  # alerted once, not every sweep

    life.connect(FALLBACK)
    report = life.sweep()
    [person] = report.transfers
    assert [(s.outcome, s.path, s.successor) for s in person.sessions] == [("transferred", "move", FALLBACK)]
    after = life.binding(sid)
    assert (after.owner_email, after.event_id, after.transfer_note) == (FALLBACK, before.event_id, None)
    assert life.reconciler.reconcile(sid).writes == 0


@pytest.mark.parametrize("how", ["departure", "suspension"])
def test_recurring_session_transfers_as_a_series(life: Life, how: str) -> None:
    for who in (RADIA, GRACE):
        life.connect(who)
    sid = life.put_session("s-series", hosts=[RADIA, GRACE], room=False,
                           recurrence=["RRULE:FREQ=WEEKLY;COUNT=8"])
    assert life.settle(sid).outcome == "success"
    series = life.binding(sid).event_id or ""
    if how == "departure":
        assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200
    else:
        life.emu.control("POST", f"users/{RADIA}/suspend", {})
    [person] = life.sweep().transfers
    assert [s.path for s in person.sessions] == ["move" if how == "departure" else "data_transfer"]
    moved = life.event(GRACE, series)
    assert moved is not None and moved["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=8"]
    assert moved["organizer"]["email"] == GRACE
    old = life.event(RADIA, series)
    assert old is None or old["status"] == "cancelled"  # the series left whole, not instance by instance
    assert life.binding(sid).event_id == series
    assert life.reconciler.reconcile(sid).writes == 0


def test_deleted_organizer_event_is_recreated_and_learners_told_once(life: Life) -> None:
    for who in (KEN, LINUS):
        life.connect(who)
    sid = life.put_session("s-gone", hosts=[KEN, LINUS])
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    mail_mark = len(life.emu.outbox())
    life.emu.control("DELETE", f"users/{KEN}")

    report = life.sweep()
    assert report.scans["acme"].deleted == [KEN]
    [person] = report.transfers
    [item] = person.sessions
    assert (item.outcome, item.path, item.successor) == ("transferred", "recreate", LINUS)
    life.settle(sid)
    after = life.binding(sid)
    assert after.owner_email == LINUS and after.event_id and after.event_id != before.event_id
    assert after.meet_link and after.meet_link != before.meet_link  # a new Meet link
    created = life.event(LINUS, after.event_id)
    assert created is not None and set(LEARNERS) <= _attendees(created) and KEN not in _attendees(created)
    # Google keeps a deleted user's events, so the old booking still holds the room: the new event does not
    # ask for it (it would be declined, and guests emailed twice); the binding and the audit say so.
    assert ROOM not in _attendees(created) and after.room_status == "declined"
    assert life.reconciler.reconcile(sid).writes == 0
    mail = life.learner_mail(mail_mark)
    assert mail == {learner: 1 for learner in LEARNERS}  # told once: the new invitation
    [audit] = life.audit("lifecycle.transferred")
    assert audit.detail["path"] == "recreate" and audit.detail["oldEventCancelled"] is False
    assert "Meet link (a new one)" in audit.detail["changed"]
    assert f"room not booked: {ROOM} is still held by the old event" in audit.detail["changed"]


def test_suspension_seen_during_a_reconcile_marks_the_person_and_transfers(life: Life) -> None:
    for who in (KEN, LINUS):
        life.connect(who)
    sid = life.put_session("s-err", hosts=[KEN, LINUS])
    assert life.settle(sid).outcome == "success"
    life.emu.control("POST", f"users/{KEN}/suspend", {})
    # The platform changes the session; the reconcile acting as Ken meets notACalendarUser.
    life.put_session("s-err", hosts=[KEN, LINUS], learners=LEARNERS[:2])
    life.reconciler.reconcile(sid)
    assert [a.subject for a in life.audit("person.suspended")] == [KEN]
    report = life.sweep()
    [person] = report.transfers
    assert [(s.outcome, s.path) for s in person.sessions] == [("transferred", "data_transfer")]
    life.settle(sid)
    event = life.event(LINUS, life.binding(sid).event_id or "")
    assert event is not None and LEARNERS[2] not in _attendees(event)  # the change made it through
    assert life.reconciler.reconcile(sid).writes == 0


def test_embedded_worker_transfers_as_soon_as_a_departure_is_announced(life: Life) -> None:
    import time

    from engine.api.app import create_api
    from engine.runtime.worker import start_embedded
    from tests.api.conftest import AsgiClient

    for who in (RADIA, GRACE):
        life.connect(who)
    sid = life.put_session("s-now", hosts=[RADIA, GRACE], room=False)
    assert life.settle(sid).outcome == "success"
    embedded = start_embedded(life.settings, engine=life.engine, threads=1, timeout_s=10)
    try:
        api = AsgiClient(create_api(life.settings, engine=life.engine))
        resp = api.put(f"/v1/people/{RADIA}/departure", json={},
                       headers={"Authorization": f"Bearer {life.key}"})
        assert resp.status_code == 200 and resp.json()["transferDue"] is True
        deadline = time.monotonic() + 30
        while life.binding(sid).owner_email != GRACE and time.monotonic() < deadline:
            time.sleep(0.1)
        assert life.binding(sid).owner_email == GRACE  # no sweep was run by hand
        embedded.join(30)
    finally:
        embedded.stop()
    assert [a.detail["path"] for a in life.audit("lifecycle.transferred")] == ["move"]


def test_google_failure_during_a_move_defers_and_the_next_pass_finishes(life: Life) -> None:
    for who in (RADIA, GRACE):
        life.connect(who)
    sid = life.put_session("s-flaky", hosts=[RADIA, GRACE], room=False)
    assert life.settle(sid).outcome == "success"
    event_id = life.binding(sid).event_id
    assert life.request("PUT", f"/v1/people/{RADIA}/departure", {}).status_code == 200
    life.emu.faults([{"method": "POST", "path": "/calendar/v3/calendars/*/events/*/move", "error_rate": 1.0,
                      "error_status": 503}])
    try:
        [person] = life.sweep().transfers
    finally:
        life.emu.clear_faults()
    assert [s.outcome for s in person.sessions] == ["deferred"]
    held = life.binding(sid)
    assert (held.owner_email, held.event_id) == (RADIA, event_id)  # nothing changed, nothing lost
    assert held.transfer_note and "will be retried" in held.transfer_note
    assert RADIA not in life.emu.world.calendars[GRACE].acl  # the temporary share was removed
    [person] = life.sweep().transfers
    assert [(s.outcome, s.path) for s in person.sessions] == [("transferred", "move")]
    after = life.binding(sid)
    assert (after.owner_email, after.event_id, after.transfer_note) == (GRACE, event_id, None)
