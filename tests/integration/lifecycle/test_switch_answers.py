"""The customer's view: a learner who accepted still shows "accepted" after a mode switch (each way) and after
ten other learners enroll, in Google and in ``GET /v1/sessions/{id}/enrollments``.

Where it sits: ``tests/integration/lifecycle``; the platform's REST API → the admin REST API's mode switch
(preview, apply; the reconciles a worker runs) → reconciler → emulator, on SQLite and PostgreSQL. The
emulator keeps what an organizer sends as a guest's ``responseStatus`` on insert (Google's documented
behaviour) and resets a guest re-sent without one to ``needsAction``, so this fails when the recreated event
or any later write drops the answers.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import Session, select

from engine.admin.people import add_person, issue_admin_token
from engine.store.models import CalendarBinding, Tenant
from engine.store.unit_of_work import unit_of_work
from engine.sync.remote_change import note_remote_change
from tests.integration.lifecycle.conftest import Life
from tests.integration.sync.conftest import people

RADIA, GRACE = "radia.backus10@acme.example", "grace.lamport2@acme.example"
VENDOR = "calendar-owner-1@muster-vendor.example"
ADMIN = "it-admin@acme.example"
LEARNERS = people("l", 13)
FIRST, LATER = LEARNERS[:3], LEARNERS[3:]


def _put(life: Life, learners: list[str]) -> None:
    body = {"title": "Session answers", "description": "Live session.", "timeZone": "Europe/Berlin",
            "start": "2027-02-01T10:00:00+01:00", "end": "2027-02-01T11:00:00+01:00", "organizer": RADIA,
            "coHosts": [GRACE], "video": "none",
            "enrollments": [{"email": e, "status": "enrolled"} for e in learners]}
    resp = life.request("PUT", "/v1/sessions/s-ans", body)
    assert resp.status_code in (200, 201), resp.text


def _answers(event: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {a["email"]: (a.get("responseStatus"), a.get("comment")) for a in event.get("attendees") or []}


def _platform_sees(life: Life) -> dict[str, tuple[str, str | None] | None]:
    resp = life.request("GET", "/v1/sessions/s-ans/enrollments")
    assert resp.status_code == 200, resp.text
    return {e["email"]: (e["response"]["status"], e["response"]["comment"]) if e["response"] else None
            for e in resp.json()}


def _event(life: Life, sid: uuid.UUID) -> dict[str, Any]:
    binding = life.binding(sid)
    event = life.event(binding.calendar_id or "", binding.event_id or "")
    assert event is not None and event.get("status") == "confirmed"
    return event


def _admin(life: Life) -> dict[str, str]:
    with unit_of_work(life.engine) as uow:
        tenant = uow.db.get(Tenant, life.tenant_id)
        assert tenant is not None
        add_person(db=uow.db, tenant=tenant, email=ADMIN, role="admin", actor="test")
        token = issue_admin_token(db=uow.db, tenant=tenant, email=ADMIN, actor="test")
    return {"Authorization": f"Bearer {token}"}


def _switch(life: Life, sid: uuid.UUID, target: str) -> None:
    """The admin previews and applies the switch over REST; the worker reconciles the queued session."""
    admin = _admin(life)
    preview = life.api.request("POST", "/v1/admin/mode-switch/preview", json={"targetMode": target}, headers=admin)
    assert preview.status_code == 200, preview.text
    [entry] = preview.json()["plan"]
    assert entry["action"] == "recreate", entry
    switch_id = preview.json()["switchId"]
    applied = life.api.request("POST", "/v1/admin/mode-switch/apply", headers=admin,
                               json={"switchId": switch_id, "targetMode": target, "confirm": target})
    assert applied.status_code == 202, applied.text
    assert life.settle(sid).outcome == "success"  # the worker's reconcile of the queued session
    status = life.api.request("GET", "/v1/admin/mode-switch", headers=admin).json()["latest"]
    assert (status["switchId"], status["status"], status["done"]) == (switch_id, "done", 1), status


@pytest.mark.parametrize("target", ["delegation", "vendor"])
def test_an_accepted_learner_stays_accepted_after_a_mode_switch_and_ten_enrollments(life: Life, target: str) -> None:
    client_id = life.emu.world.service_accounts[next(iter(life.emu.world.service_accounts))].client_id
    life.emu.world.add_delegation_grant(client_id, "muster-vendor.example", ["https://www.googleapis.com/auth/calendar"])
    life.set_tenant(vendor_owner_emails=[VENDOR], integration_mode="vendor" if target == "delegation" else "delegation")
    for who in (RADIA, GRACE):
        life.connect(who)
    _put(life, FIRST)
    sid = life.session_id("s-ans")
    assert life.settle(sid).outcome == "success"
    before = life.binding(sid)
    assert before.calendar_id == (VENDOR if target == "delegation" else RADIA) and before.event_id
    # Given a learner accepted (with a comment), another declined and the co-host answered "maybe" in Google,
    world = life.emu.world
    assert world.set_attendee_response(before.calendar_id, before.event_id, FIRST[0], "accepted", "count me in")
    assert world.set_attendee_response(before.calendar_id, before.event_id, FIRST[1], "declined")
    assert world.set_attendee_response(before.calendar_id, before.event_id, GRACE, "tentative")
    with unit_of_work(life.engine) as uow:  # the change feed notes the change; the reconcile reads the answers
        row = uow.db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one()
        note_remote_change(uow.db, row, None)
    assert life.settle(sid).outcome == "success"
    assert _platform_sees(life)[FIRST[0]] == ("accepted", "count me in")

    # When the tenant switches mode: the event is recreated on the other owner's calendar
    _switch(life, sid, target)
    after = life.binding(sid)
    assert after.calendar_id == (RADIA if target == "delegation" else VENDOR), after.calendar_id
    answers = _answers(_event(life, sid))
    # Then the guests' answers are on the new event, and the platform still reads them
    assert answers[FIRST[0]] == ("accepted", "count me in")
    assert answers[FIRST[1]] == ("declined", None)
    assert answers[GRACE] == ("tentative", None)
    assert answers[FIRST[2]] == ("needsAction", None)
    assert _platform_sees(life)[FIRST[0]] == ("accepted", "count me in")

    # And after ten other learners enroll, one write each, the answers are still the guests' own
    for i in range(1, len(LATER) + 1):
        _put(life, FIRST + LATER[:i])
        assert life.settle(sid).outcome == "success"
    answers = _answers(_event(life, sid))
    assert set(LEARNERS) <= set(answers)
    assert answers[FIRST[0]] == ("accepted", "count me in")
    assert answers[FIRST[1]] == ("declined", None)
    assert answers[GRACE] == ("tentative", None)
    assert {answers[e][0] for e in LATER} == {"needsAction"}
    seen = _platform_sees(life)
    assert seen[FIRST[0]] == ("accepted", "count me in") and seen[FIRST[1]] == ("declined", None)
    with Session(life.engine) as db:  # one live Muster event for the session: the old one is gone
        assert db.exec(select(CalendarBinding).where(CalendarBinding.session_id == sid)).one().event_id
    for cal in (RADIA, GRACE, VENDOR):
        ours = [e for e in life.emu.events(cal)
                if (e.get("extendedProperties") or {}).get("private", {}).get("musterSession") == str(sid)]
        assert len(ours) == (1 if cal == after.calendar_id else 0), (cal, ours)
