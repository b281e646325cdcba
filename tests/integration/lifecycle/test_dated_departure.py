"""A departure announced for a future day, end to end: REST API → lifecycle sweep → emulator.

The platform says through ``PUT /v1/people/{email}/departure {"leavingOn": ...}`` that an organizer
leaves on a later day. The sweep (:func:`engine.lifecycle.run.sweep`, driven here through its ``now``
parameter) must leave their events alone until the transfer is due
(:func:`engine.lifecycle.departure.transfer_due`: ``LEAD_DAYS`` before ``leavingOn``, UTC dates) and then
move them with ``events.move`` to the next connected co-host, keeping event id, attendees, Meet link and
room, with one audit entry and at most one e-mail per learner. Runs on SQLite and PostgreSQL (``db_url``
through the ``life`` fixture), against the emulator through the real Google clients.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from engine.lifecycle import dispatch
from engine.lifecycle.departure import LEAD_DAYS, earliest_today
from engine.store.models import Person
from tests.integration.lifecycle.conftest import LEARNERS, ROOM, Life

RADIA, GRACE, KEN = ("radia.backus10@acme.example", "grace.lamport2@acme.example", "ken.allen5@acme.example")


def _attendees(event: dict[str, object]) -> set[str]:
    return {str(a["email"]) for a in event.get("attendees") or []}  # type: ignore[attr-defined]


def _person_id(life: Life, email: str) -> uuid.UUID:
    with Session(life.engine) as db:
        return db.exec(select(Person.id).where(Person.tenant_id == life.tenant_id, Person.email == email)).one()


def test_dated_departure_waits_until_due_then_moves_the_event(life: Life) -> None:
    real_today = datetime.now(UTC).date()
    leaving_on = real_today + timedelta(days=30)
    start = datetime.combine(leaving_on + timedelta(days=7), time(9, 0), tzinfo=UTC)
    for who in (RADIA, GRACE):
        life.connect(who)
    sid = life.put_session("s-dated", hosts=[RADIA, GRACE], start=start.isoformat(),
                           end=(start + timedelta(hours=1)).isoformat())
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    assert before.owner_email == RADIA and before.meet_link and before.room_email == ROOM
    original = life.event(RADIA, before.event_id or "")
    assert original is not None and set(LEARNERS) | {ROOM} <= _attendees(original)
    mail_mark = len(life.emu.outbox())

    resp = life.request("PUT", f"/v1/people/{RADIA}/departure", {"leavingOn": leaving_on.isoformat()})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["status"], body["leavingOn"], body["transferDue"]) == ("leaving", leaving_on.isoformat(), False)
    assert (life.tenant_id, _person_id(life, RADIA)) not in dispatch.pending  # nothing requested yet
    preview = life.request("GET", f"/v1/people/{RADIA}/transfer-preview").json()
    assert preview["transferDue"] is False
    assert [(s["externalId"], s["successor"], s["path"]) for s in preview["sessions"]] == [
        ("s-dated", GRACE, "move")
    ]

    due_from = datetime.combine(leaving_on - timedelta(days=LEAD_DAYS), time(0, 0), tzinfo=UTC)
    for early in (datetime.now(UTC), due_from - timedelta(days=10), due_from - timedelta(seconds=1)):
        report = life.sweep(now=early)
        assert report.transfers == [], (early, report)
        still = life.binding(sid)
        assert (still.owner_email, still.calendar_id, still.event_id) == (RADIA, RADIA, before.event_id)
        untouched = life.event(RADIA, before.event_id or "")
        assert untouched is not None and untouched["status"] == "confirmed"
        assert untouched["organizer"]["email"] == RADIA
    assert life.event(GRACE, before.event_id or "") is None
    assert life.audit("lifecycle.transferred") == []

    report = life.sweep(now=due_from)
    [person] = report.transfers
    assert person.email == RADIA and person.due
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
    [audit] = life.audit("lifecycle.transferred")
    assert audit.detail["path"] == "move" and "Meet link" in audit.detail["kept"]
    assert audit.detail["eventIdBefore"] == audit.detail["eventIdAfter"] == before.event_id

    # Later passes (and the reconcile) find nothing left to do: no second move, no second audit entry.
    assert life.sweep(now=due_from + timedelta(hours=1)).transfers == []
    assert life.sweep(now=datetime.combine(leaving_on, time(12, 0), tzinfo=UTC)).transfers == []
    again = life.reconciler.reconcile(sid)
    assert again.writes == 0 and again.outcome == "success", again
    assert len(life.audit("lifecycle.transferred")) == 1
    mail = life.learner_mail(mail_mark)
    assert all(n <= 1 for n in mail.values()), mail


def test_a_local_today_west_of_utc_is_accepted(life: Life) -> None:
    life.connect(KEN)
    life.put_session("s-ken", hosts=[KEN], room=False, video="none")
    now = datetime.now(UTC)
    # The furthest-behind civil zone (UTC-12; POSIX names have the sign inverted) defines the earliest
    # "today"; the platform in Honolulu (UTC-10) sends its own local date.
    westmost: date = now.astimezone(ZoneInfo("Etc/GMT+12")).date()
    honolulu: date = now.astimezone(ZoneInfo("Pacific/Honolulu")).date()
    assert westmost == earliest_today(now)
    assert honolulu >= westmost and now.date() - westmost <= timedelta(days=1)

    for local_today in (westmost, honolulu):
        resp = life.request("PUT", f"/v1/people/{KEN}/departure", {"leavingOn": local_today.isoformat()})
        assert resp.status_code == 200, resp.text
        assert resp.json()["leavingOn"] == local_today.isoformat()
        assert resp.json()["transferDue"] is True  # a last day of today (or yesterday in UTC) is due now

    past = westmost - timedelta(days=1)
    refused = life.request("PUT", f"/v1/people/{KEN}/departure", {"leavingOn": past.isoformat()})
    assert refused.status_code == 422, refused.text
    assert "leavingOn" in refused.text and "in the past" in refused.text
    # The refused request changed nothing: the last accepted date stands.
    preview = life.request("GET", f"/v1/people/{KEN}/transfer-preview").json()
    assert preview["leavingOn"] == honolulu.isoformat()
