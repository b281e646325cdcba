"""Contract: rooms answer invitations like Google's auto-accepting resources (real client, real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.contract import workspace_fixtures as fx
from tests.contract.workspace_fixtures import ADMIN, Workspace, room

workspace, wait_for = fx.workspace, fx.wait_for

ORGANIZER = "ada.torvalds0@acme.example"
OTHER = "alan.perlman1@acme.example"
Wait = Callable[..., Any]


def _body(summary: str, start: str, end: str, rooms: list[str], **extra: Any) -> dict[str, Any]:
    # A recurring event needs start.timeZone (discovery document); UTC keeps the instants as written.
    return {"summary": summary, "start": {"dateTime": start, "timeZone": "UTC"}, "end": {"dateTime": end},
            "attendees": [{"email": r, "resource": True} for r in rooms], **extra}


def _room_status(cal: Any, event_id: str, email: str) -> str:
    got = cal.events().get(calendarId="primary", eventId=event_id).execute()
    return next(a["responseStatus"] for a in got["attendees"] if a["email"] == email)


def _answered(cal: Any, event_id: str, email: str, wait: Wait) -> str:
    return str(wait(lambda: (s := _room_status(cal, event_id, email)) != "needsAction" and s))


def test_free_room_accepts_after_a_moment_and_conflict_declines(workspace: Workspace, wait_for: Wait) -> None:
    email = room(workspace.seed, "Bohr")["resourceEmail"]
    cal = workspace.calendar(ORGANIZER)
    first = cal.events().insert(calendarId="primary", body=_body(
        "Kick-off", "2027-05-03T09:00:00Z", "2027-05-03T10:00:00Z", [email])).execute()
    assert first["attendees"][0]["responseStatus"] == "needsAction"  # answered asynchronously
    assert _answered(cal, first["id"], email, wait_for) == "accepted"
    other = workspace.calendar(OTHER)
    clash = other.events().insert(calendarId="primary", body=_body(
        "Clash", "2027-05-03T09:30:00Z", "2027-05-03T10:30:00Z", [email])).execute()
    assert _answered(other, clash["id"], email, wait_for) == "declined"
    touching = other.events().insert(calendarId="primary", body=_body(
        "Right after", "2027-05-03T10:00:00Z", "2027-05-03T11:00:00Z", [email])).execute()
    assert _answered(other, touching["id"], email, wait_for) == "accepted"


def test_room_is_free_again_after_the_booking_is_deleted(workspace: Workspace, wait_for: Wait) -> None:
    email = room(workspace.seed, "Dirac")["resourceEmail"]
    cal = workspace.calendar(ORGANIZER)
    booking = cal.events().insert(calendarId="primary", body=_body(
        "Held", "2027-05-04T09:00:00Z", "2027-05-04T10:00:00Z", [email])).execute()
    assert _answered(cal, booking["id"], email, wait_for) == "accepted"
    cal.events().delete(calendarId="primary", eventId=booking["id"]).execute()
    again = workspace.calendar(OTHER).events().insert(calendarId="primary", body=_body(
        "Reuse", "2027-05-04T09:00:00Z", "2027-05-04T10:00:00Z", [email])).execute()
    assert _answered(workspace.calendar(OTHER), again["id"], email, wait_for) == "accepted"


def test_moving_an_accepted_booking_onto_a_conflict_is_declined(workspace: Workspace, wait_for: Wait) -> None:
    email = room(workspace.seed, "Euler")["resourceEmail"]
    cal = workspace.calendar(ORGANIZER)
    a = cal.events().insert(calendarId="primary", body=_body(
        "A", "2027-05-05T09:00:00Z", "2027-05-05T10:00:00Z", [email])).execute()
    b = cal.events().insert(calendarId="primary", body=_body(
        "B", "2027-05-05T11:00:00Z", "2027-05-05T12:00:00Z", [email])).execute()
    assert _answered(cal, a["id"], email, wait_for) == "accepted"
    assert _answered(cal, b["id"], email, wait_for) == "accepted"
    cal.events().patch(calendarId="primary", eventId=b["id"], body={
        "start": {"dateTime": "2027-05-05T09:30:00Z"}, "end": {"dateTime": "2027-05-05T10:30:00Z"}}).execute()
    wait_for(lambda: _room_status(cal, b["id"], email) == "declined")


def test_room_declines_bookers_outside_bookable_by(workspace: Workspace, wait_for: Wait) -> None:
    joule = room(workspace.seed, "Joule")
    assert joule["bookableBy"] == [ADMIN]
    email = joule["resourceEmail"]
    cal = workspace.calendar(ORGANIZER)
    refused = cal.events().insert(calendarId="primary", body=_body(
        "Big class", "2027-05-06T09:00:00Z", "2027-05-06T10:00:00Z", [email])).execute()
    assert _answered(cal, refused["id"], email, wait_for) == "declined"
    admin = workspace.calendar(ADMIN)
    allowed = admin.events().insert(calendarId="primary", body=_body(
        "All hands", "2027-05-06T09:00:00Z", "2027-05-06T10:00:00Z", [email])).execute()
    assert _answered(admin, allowed["id"], email, wait_for) == "accepted"


def test_series_accepted_with_conflicting_instance_declined(workspace: Workspace, wait_for: Wait) -> None:
    email = room(workspace.seed, "Fermi")["resourceEmail"]
    other = workspace.calendar(OTHER)
    blocker = other.events().insert(calendarId="primary", body=_body(
        "Blocker", "2027-06-14T10:00:00Z", "2027-06-14T11:00:00Z", [email])).execute()
    assert _answered(other, blocker["id"], email, wait_for) == "accepted"
    cal = workspace.calendar(ORGANIZER)
    series = cal.events().insert(calendarId="primary", body=_body(
        "Weekly", "2027-06-07T10:00:00Z", "2027-06-07T11:00:00Z", [email],
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=6"])).execute()
    assert _answered(cal, series["id"], email, wait_for) == "accepted"
    instances = cal.events().instances(calendarId="primary", eventId=series["id"]).execute()["items"]
    answers = {i["originalStartTime"]["dateTime"][:10]: i["attendees"][0]["responseStatus"]
               for i in instances}
    assert answers.pop("2027-06-14") == "declined"
    assert set(answers.values()) == {"accepted"} and len(answers) == 5


def test_series_declined_whole_when_over_a_third_conflicts(workspace: Workspace, wait_for: Wait) -> None:
    email = room(workspace.seed, "Gauss")["resourceEmail"]
    other = workspace.calendar(OTHER)
    for day in ("2027-07-05", "2027-07-12"):
        held = other.events().insert(calendarId="primary", body=_body(
            "Held", f"{day}T10:00:00Z", f"{day}T11:00:00Z", [email])).execute()
        assert _answered(other, held["id"], email, wait_for) == "accepted"
    cal = workspace.calendar(ORGANIZER)
    series = cal.events().insert(calendarId="primary", body=_body(
        "Weekly", "2027-07-05T10:00:00Z", "2027-07-05T11:00:00Z", [email],
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=5"])).execute()  # 2 of 5 conflict: more than a third
    assert _answered(cal, series["id"], email, wait_for) == "declined"


def test_service_account_without_delegation_cannot_book_a_room(workspace: Workspace) -> None:
    email = room(workspace.seed, "Hilbert")["resourceEmail"]
    with pytest.raises(HttpError) as exc:
        workspace.calendar(None).events().insert(calendarId="primary", body=_body(
            "SA", "2027-05-07T09:00:00Z", "2027-05-07T10:00:00Z", [email])).execute()
    err = json.loads(exc.value.content)["error"]
    assert exc.value.resp.status == 403 and err["errors"][0]["reason"] == "forbiddenForServiceAccounts"
