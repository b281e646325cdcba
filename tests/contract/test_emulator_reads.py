"""Contract: what Google shows whom on a read, and the small write rules around it (real client, real HTTP):
unknown scopes, invitation-copy ids, private events, ``maxAttendees`` on get, reminders and ``updated``,
the ``timeZone`` parameter."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from tests.contract.conftest import ALICE, BOB, ERIN, GUEST, Ws, timed


def _status(exc: pytest.ExceptionInfo[HttpError]) -> tuple[int, str]:
    return exc.value.resp.status, json.loads(exc.value.content)["error"]["errors"][0]["reason"]


def test_jwt_grant_with_an_unknown_scope_is_invalid_scope(ws: Ws) -> None:
    with pytest.raises(RefreshError) as exc:
        ws.as_user(ALICE, scopes=["https://www.googleapis.com/auth/calendar.everything"]).calendarList().list(
        ).execute()
    assert "invalid_scope" in str(exc.value)
    with pytest.raises(RefreshError) as exc:
        ws.as_sa(scopes=["https://www.googleapis.com/auth/calendarx"]).calendarList().list().execute()
    assert "invalid_scope" in str(exc.value)
    assert "items" in ws.as_user(ALICE).calendarList().list().execute()  # a known scope still works


def test_guest_cannot_take_the_id_of_their_invitation_copy(ws: Ws) -> None:
    invite = ws.as_user(ALICE).events().insert(calendarId="primary", body={
        "summary": "Invite", **timed("2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z"),
        "attendees": [{"email": BOB}]}).execute()
    bob = ws.as_user(BOB).events()
    with pytest.raises(HttpError) as exc:
        bob.insert(calendarId="primary", body={
            "id": invite["id"], "summary": "Mine", **timed("2027-03-11T10:00:00Z", "2027-03-11T11:00:00Z")}).execute()
    assert _status(exc) == (409, "duplicate")
    seen = bob.get(calendarId="primary", eventId=invite["id"]).execute()
    assert seen["summary"] == "Invite" and seen["organizer"]["email"] == ALICE


def test_private_event_details_are_hidden_from_readers_who_are_not_guests(ws: Ws) -> None:
    alice = ws.as_user(ALICE)
    for who, role in ((BOB, "reader"), (ERIN, "writer")):
        alice.acl().insert(calendarId="primary", body={"role": role, "scope": {"type": "user", "value": who}}).execute()
    private = alice.events().insert(calendarId="primary", body={
        "summary": "Doctor", "description": "Room 4", "location": "Clinic", "visibility": "private",
        **timed("2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z"), "attendees": [{"email": GUEST}]}).execute()
    invited = alice.events().insert(calendarId="primary", body={
        "summary": "1:1", "visibility": "private", **timed("2027-03-10T14:00:00Z", "2027-03-10T14:30:00Z"),
        "attendees": [{"email": BOB}]}).execute()
    public = alice.events().insert(calendarId="primary", body={
        "summary": "Stand-up", **timed("2027-03-10T12:00:00Z", "2027-03-10T12:15:00Z")}).execute()
    as_reader = ws.as_user(BOB).events()
    hidden = as_reader.get(calendarId=ALICE, eventId=private["id"]).execute()
    assert hidden["id"] == private["id"] and hidden["start"] == private["start"]
    assert hidden["visibility"] == "private"
    assert not {"summary", "description", "location", "attendees", "organizer"} & set(hidden)
    listed = {i["id"]: i for i in as_reader.list(calendarId=ALICE).execute()["items"]}
    assert "summary" not in listed[private["id"]] and listed[public["id"]]["summary"] == "Stand-up"
    assert listed[invited["id"]]["summary"] == "1:1"  # a guest sees the details
    assert ws.as_user(ERIN).events().get(calendarId=ALICE, eventId=private["id"]).execute()["summary"] == "Doctor"
    assert alice.events().get(calendarId="primary", eventId=private["id"]).execute()["location"] == "Clinic"


def test_get_honours_max_attendees_like_list(ws: Ws) -> None:
    alice = ws.as_user(ALICE).events()
    event = alice.insert(calendarId="primary", body={
        "summary": "Big", **timed("2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z"),
        "attendees": [{"email": e} for e in (BOB, ERIN, GUEST)]}).execute()
    trimmed = alice.get(calendarId="primary", eventId=event["id"], maxAttendees=1).execute()
    assert trimmed["attendeesOmitted"] is True and "attendees" not in trimmed  # the organizer is no guest
    as_guest = ws.as_user(BOB).events().get(calendarId="primary", eventId=event["id"], maxAttendees=2).execute()
    assert [a["email"] for a in as_guest["attendees"]] == [BOB] and as_guest["attendeesOmitted"] is True
    full = alice.get(calendarId="primary", eventId=event["id"], maxAttendees=3).execute()
    assert len(full["attendees"]) == 3 and "attendeesOmitted" not in full
    listed = alice.list(calendarId="primary", maxAttendees=1).execute()["items"]
    assert next(i for i in listed if i["id"] == event["id"])["attendeesOmitted"] is True


def test_reminders_only_patch_keeps_updated(ws: Ws) -> None:
    alice = ws.as_user(ALICE).events()
    event = alice.insert(calendarId="primary", body={
        "summary": "R", **timed("2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z")}).execute()
    time.sleep(0.01)
    reminded = alice.patch(calendarId="primary", eventId=event["id"], body={
        "reminders": {"useDefault": False, "overrides": [{"method": "popup", "minutes": 15}]}}).execute()
    assert reminded["updated"] == event["updated"] and reminded["etag"] != event["etag"]
    assert reminded["reminders"]["overrides"] == [{"method": "popup", "minutes": 15}]
    time.sleep(0.01)
    renamed = alice.patch(calendarId="primary", eventId=event["id"], body={"summary": "Renamed"}).execute()
    assert renamed["updated"] > event["updated"]


def test_time_zone_parameter_on_get_and_list(ws: Ws) -> None:
    alice = ws.as_user(ALICE).events()
    body: dict[str, Any] = {"summary": "TZ", **timed("2027-03-10T10:00:00", "2027-03-10T11:00:00", "Europe/Paris")}
    event = alice.insert(calendarId="primary", body=body).execute()
    got = alice.get(calendarId="primary", eventId=event["id"], timeZone="America/New_York").execute()
    assert got["start"] == {"dateTime": "2027-03-10T04:00:00-05:00", "timeZone": "Europe/Paris"}
    listed = alice.list(calendarId="primary", timeZone="Asia/Tokyo").execute()
    assert listed["timeZone"] == "Asia/Tokyo"
    assert next(i for i in listed["items"] if i["id"] == event["id"])["end"]["dateTime"] == "2027-03-10T19:00:00+09:00"
    with pytest.raises(HttpError) as exc:
        alice.get(calendarId="primary", eventId=event["id"], timeZone="Mars/Olympus").execute()
    assert exc.value.resp.status == 400 and "timeZone" in exc.value.content.decode()
    with pytest.raises(HttpError) as exc:  # longer than any file name: still a 400, never a 500
        alice.list(calendarId="primary", timeZone="Europe/" + "x" * 300).execute()
    assert exc.value.resp.status == 400
