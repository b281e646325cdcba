"""Contract: a room with ``autoAcceptInvitations: false`` waits for its resource manager, who answers
through the control API; the organizer sees the answer through the real client."""

from __future__ import annotations

import time

import httpx

from tests.contract.conftest import ALICE, Ws, timed

MANUAL = "c_manual@resource.calendar.google.com"


def test_manual_room_waits_then_its_manager_answers(ws: Ws) -> None:
    ws.world.add_resource({"resourceEmail": MANUAL, "resourceId": "222", "resourceName": "Board room",
                           "autoAcceptInvitations": False})
    assert ws.as_user(ALICE).calendars().get(calendarId=MANUAL).execute()["autoAcceptInvitations"] is False
    events = ws.as_user(ALICE).events()
    booking = events.insert(calendarId="primary", body={
        "summary": "Board", **timed("2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z"),
        "attendees": [{"email": MANUAL, "resource": True}]}).execute()
    time.sleep(0.3)  # well past room_response_delay_s: an auto-accepting room would have answered
    room = next(a for a in events.get(calendarId="primary", eventId=booking["id"]).execute()["attendees"]
                if a["email"] == MANUAL)
    assert room["responseStatus"] == "needsAction"
    pending = httpx.get(f"{ws.url}_emulator/rooms/{MANUAL}/pending").json()["pending"]
    assert [(p["eventId"], p["calendarId"]) for p in pending] == [(booking["id"], ALICE)]
    answer = httpx.post(f"{ws.url}_emulator/rooms/{MANUAL}/answer",
                        json={"eventId": booking["id"], "responseStatus": "accepted", "comment": "Approved"})
    assert answer.status_code == 200 and answer.json()["responseStatus"] == "accepted"
    room = next(a for a in events.get(calendarId="primary", eventId=booking["id"]).execute()["attendees"]
                if a["email"] == MANUAL)
    assert room["responseStatus"] == "accepted" and room["comment"] == "Approved"
    assert httpx.get(f"{ws.url}_emulator/rooms/{MANUAL}/pending").json()["pending"] == []
    answer_url = f"{ws.url}_emulator/rooms/{MANUAL}/answer"
    bad = httpx.post(answer_url, json={"eventId": booking["id"], "responseStatus": "ok"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "responseStatus"
    unknown = httpx.post(answer_url, json={"eventId": "nope", "responseStatus": "declined"})
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "eventId"
    assert httpx.post(f"{ws.url}_emulator/rooms/nobody@x/answer", json={}).status_code == 404
